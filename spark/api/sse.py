"""``GET /api/backtest/stream``: Server-Sent Events of run changes.

The first frame carries ``retry:`` and the snapshot (or, on a resume the ring can serve, the missed events); then
one ``event: run`` frame per change, each with its increasing ``id:``, and a ``: heartbeat`` comment whenever
``Settings.heartbeat_s`` passes without one. ``Last-Event-ID`` that is not a plain number is ignored (a fresh
stream, never an error). Over the client cap the subscription raises Unavailable: 503 with ``Retry-After``.

Resources: no task per stream. Waiting on the subscription is cut short by the heartbeat timer, which relies on
the subscription's ``__anext__`` being cancel-safe (the broadcaster's ClientStream awaits a memory channel). A slow
socket backs up into the broadcaster's small per-client channel, where it is coalesced or dropped; the
subscription is left when the client goes away however that happens. The answer sets ``timeout = None``:
quart-trio would otherwise end every stream after RESPONSE_TIMEOUT.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio
from quart import Blueprint, Response, request

from spark.plugin.services import Services, StreamEvent, Subscription

__all__ = ["HEARTBEAT", "FrameCache", "frame", "parse_last_event_id", "stream_routes"]

HEARTBEAT = b": heartbeat\n\n"
_DIGITS = re.compile(r"^[0-9]{1,18}$")


def parse_last_event_id(raw: str | None) -> int | None:
    """The id a reconnecting client last saw, or None for absent or unreadable values."""
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if _DIGITS.match(raw) else None


def frame(event: StreamEvent, *, retry_ms: int | None = None) -> bytes:
    """One SSE frame; JSON never holds a raw newline, so ``data:`` is one line."""
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    head = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"{head}id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


class FrameCache:
    """Each event is encoded once, however many clients it goes to (a snapshot of many runs is costly to encode).
    Keyed by the event object itself (the broadcaster shares one object among clients); bounded, oldest out."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[int, str], tuple[StreamEvent, bytes]] = OrderedDict()

    def __call__(self, event: StreamEvent) -> bytes:
        key = (event.id, event.kind)
        hit = self._frames.get(key)
        if hit is not None and hit[0] is event:
            return hit[1]
        encoded = frame(event)
        self._frames[key] = (event, encoded)
        if len(self._frames) > self._size:
            self._frames.popitem(last=False)
        return encoded


async def _frames(
    cm: AbstractAsyncContextManager[Subscription], subscription: Subscription, services: Services, cache: FrameCache
) -> AsyncGenerator[bytes, None]:
    """Frames for one client. Waiting for the next event is bounded by the heartbeat interval; the timeout never
    spans a yield (a slow socket send is not cut short by it)."""
    try:
        events = subscription.__aiter__()
        retry: int | None = services.settings.sse_retry_ms
        while True:
            event = None
            with trio.move_on_after(services.settings.heartbeat_s):
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    return
            if event is None:
                yield HEARTBEAT
            elif retry is not None:
                yield f"retry: {retry}\n".encode() + cache(event)
                retry = None
            else:
                yield cache(event)
    finally:
        with trio.CancelScope(shield=True):
            await cm.__aexit__(None, None, None)


class _Stream:
    """The answer's body: leaves the subscription even if the body is closed before it started."""

    def __init__(
        self,
        cm: AbstractAsyncContextManager[Subscription],
        subscription: Subscription,
        services: Services,
        cache: FrameCache,
    ) -> None:
        self._cm = cm
        self._gen = _frames(cm, subscription, services, cache)
        self._started = False

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> bytes:
        self._started = True
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        if self._started:
            await self._gen.aclose()
        else:
            self._started = True
            await self._cm.__aexit__(None, None, None)


def stream_routes(services: Services) -> Blueprint:
    bp = Blueprint("stream", __name__)
    cache = FrameCache()

    @bp.get("/api/backtest/stream")
    async def stream() -> Response:
        last = parse_last_event_id(request.headers.get("Last-Event-ID"))
        cm = services.subscribe(last)
        subscription = await cm.__aenter__()  # Unavailable (503 + Retry-After) over the client cap
        headers: dict[str, Any] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        response = Response(
            _Stream(cm, subscription, services, cache),
            status=200,
            content_type="text/event-stream; charset=utf-8",
            headers=headers,
        )
        response.timeout = None
        return response

    return bp
