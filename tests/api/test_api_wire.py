"""Bodies on a real keep-alive connection (Hypercorn's trio worker), and the pure helpers of the wire layer."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import trio
from apikit import TOKEN, served

from spark.api import create_app
from spark.api.ratelimit import RateLimiter
from spark.api.wire import parse_json
from spark.errors import InputError, RateLimited
from spark.system import open_system


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read off a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the headers: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def exchange(url: str) -> list[Any]:
    """Blocking socket work (run in a thread): early answers and oversized bodies on keep-alive connections."""
    host, port = url.removeprefix("http://").split(":")
    results: list[Any] = []
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # an early refusal (bad token) of a large, allowed body: the next request on the connection still works
        sock.sendall(
            request(
                "POST",
                "/api/backtest/start",
                json.dumps({"notes": "x" * 60_000}).encode(),
                {"x-admin-token": "wrong", "Content-Type": "application/json"},
            )
        )
        results.append(read_response(sock)[0])
        sock.sendall(request("DELETE", "/api/backtest/cancel/not-an-id", b"y" * 50_000, {"x-admin-token": TOKEN}))
        results.append(read_response(sock)[0])
        sock.sendall(request("GET", "/health"))
        results.append(read_response(sock)[0])
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request("POST", "/api/backtest/start", b"z" * 200_000, {"x-admin-token": TOKEN}))
        status, headers, body = read_response(sock)
        results += [status, headers.get("connection"), json.loads(body)["error"]]
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # chunked, over the limit
        head = "POST /api/backtest/start HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        sock.sendall(f"{head}x-admin-token: {TOKEN}\r\n\r\n".encode())
        for _ in range(40):
            sock.sendall(b"1000\r\n" + b"a" * 4096 + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        results.append(read_response(sock)[0])
    return results


async def test_bodies_on_keep_alive_connections(make_settings: Any) -> None:
    async with open_system(make_settings()) as system, served(create_app(system)) as url:
        with trio.fail_after(30):
            results = await trio.to_thread.run_sync(exchange, url)
    assert results == [401, 400, 200, 413, "close", "too_large", 413]


def test_parse_json_is_strict_and_never_raises_anything_but_input_error() -> None:
    assert parse_json(b"") is None and parse_json(b"  \n") is None
    assert parse_json(b'{"a": [1, 2.5, "\xc3\xa9"]}') == {"a": [1, 2.5, "é"]}
    for bad in (
        b"\xff",
        b"{",
        b"NaN",
        b"[Infinity]",
        b"-Infinity",
        b"1e400",
        b"[" * 200_000,
        b"9" * 10_000,
        b'{"a": 1} x',
        "ü".encode("utf-16"),
    ):
        with pytest.raises(InputError):
            parse_json(bad)


def test_rate_limiter_window_retry_after_and_bounded_memory() -> None:
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("a", limit=3, max_keys=2)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("a", limit=3, max_keys=2)
    assert refused.value.retry_after == 60
    now[0] += 30.5
    with pytest.raises(RateLimited) as refused:
        limiter.hit("a", limit=3, max_keys=2)
    assert refused.value.retry_after == 30
    now[0] += 30
    limiter.hit("a", limit=3, max_keys=2)  # the first three left the window
    for key in ("b", "c", "d", "e"):
        limiter.hit(key, limit=3, max_keys=2)
    assert len(limiter) == 2  # the least recently seen are forgotten
    limiter.hit("a", limit=1, max_keys=2)  # "a" was forgotten: a fresh window, even with a lowered limit


def test_each_rate_bucket_counts_apart_and_names_itself() -> None:
    now = [0.0]
    starts, mutations = RateLimiter(clock=lambda: now[0]), RateLimiter(what="mutations", clock=lambda: now[0])
    starts.hit("a", limit=1, max_keys=10)
    mutations.hit("a", limit=1, max_keys=10)  # a start does not use up the mutations bucket
    with pytest.raises(RateLimited, match="at most 1 mutations a minute"):
        mutations.hit("a", limit=1, max_keys=10)
    with pytest.raises(RateLimited, match="at most 1 starts a minute"):
        starts.hit("a", limit=1, max_keys=10)
