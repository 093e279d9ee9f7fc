"""Scripted SSE servers at the network boundary, for load-test tests: raw HTTP/1.1 over trio sockets.

Each script gets the connection after the response head is sent (``text/event-stream``, body until close) and
writes frames with `frame`. A real Spark server is used in test_ops_server.py; these make a server that misses
the SLO, loses events or refuses clients, which a healthy Spark never does on purpose.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import trio

__all__ = ["Script", "frame", "serve_script"]

Script = Callable[[trio.abc.Stream], Awaitable[None]]


def frame(event_id: int | None, kind: str, data: dict | None = None) -> bytes:
    """One SSE frame; ``data`` gets the current ``serverTime`` (epoch ms) like Spark's events."""
    doc = {**(data or {}), "serverTime": int(time.time() * 1000)}
    lines = ([] if event_id is None else [f"id: {event_id}"]) + [f"event: {kind}", f"data: {json.dumps(doc)}"]
    return ("\n".join(lines) + "\n\n").encode()


@asynccontextmanager
async def serve_script(script: Script, *, status: str = "200 OK", content_type: str = "text/event-stream"):
    """Serve ``script`` on 127.0.0.1 (a free port); yields the base URL."""

    async def handle(stream: trio.SocketStream) -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                data += chunk
            head = f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncache-control: no-store\r\n"
            if not status.startswith("200"):
                body = b'{"error":"unavailable","message":"scripted refusal","field":null}'
                await stream.send_all(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body)
                return
            await stream.send_all(f"{head}connection: close\r\n\r\n".encode())
            await script(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away (the load test ended, or the pre-flight request)
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


async def prompt(stream: trio.abc.Stream) -> None:
    """Spark's shape: retry hint, a comment, a snapshot at once, then a run event every 100 ms."""
    await stream.send_all(b"retry: 3000\n\n: connected\n\n")
    await stream.send_all(frame(1, "snapshot", {"runs": []}))
    for event_id in range(2, 10_000):
        await trio.sleep(0.1)
        await stream.send_all(frame(event_id, "run", {"id": "bt-1700000000000-00000000", "status": "running"}))


def delayed(seconds: float) -> Script:
    async def script(stream: trio.abc.Stream) -> None:
        await trio.sleep(seconds)
        await prompt(stream)

    return script


async def gappy(stream: trio.abc.Stream) -> None:
    """ids 1 (snapshot), 2, 5 (two run events lost), 9 (a snapshot after a gap: coalesced), then quiet."""
    for event_id, kind in ((1, "snapshot"), (2, "run"), (5, "run"), (9, "snapshot")):
        await stream.send_all(frame(event_id, kind, {"runs": []} if kind == "snapshot" else {"id": "x"}))
    await trio.sleep_forever()


async def one_then_close(stream: trio.abc.Stream) -> None:
    await stream.send_all(frame(1, "snapshot", {"runs": []}))
