"""Helpers shared by the API tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from httpx_sse import EventSource

from spark.api.server import serve_app
from spark.config import Settings

TOKEN = "s3cret-token"


def admin(**extra: str) -> dict[str, str]:
    return {"x-admin-token": TOKEN, **extra}


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    """Every audit line written so far, parsed."""
    lines: list[dict[str, Any]] = []
    for path in sorted(settings.audit_dir.glob("backtest_*.log")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines


@asynccontextmanager
async def served(app: Any, stall_timeout_s: float = 3.0) -> AsyncIterator[str]:
    """Serve ``app`` with a real Hypercorn on 127.0.0.1:<free port>; yields the base URL, stops gracefully."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve_app, app, host="127.0.0.1", port=0, shutdown_trigger=stop.wait,
                                            stall_timeout_s=stall_timeout_s, graceful_timeout_s=1.0))
        try:
            yield binds[0]
        finally:
            stop.set()


async def sse_events(response: Any) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
    """(id, event, data) for each real event of an SSE answer; comments and retry-only frames are skipped."""
    async for event in EventSource(response).aiter_sse():
        if not event.data:
            continue
        yield int(event.id), event.event, json.loads(event.data)


async def wait_until(predicate: Any, seconds: float = 10.0, step: float = 0.02) -> None:
    """Poll ``predicate()`` until true; TooSlowError after ``seconds`` (state owned by another task or process)."""
    with trio.fail_after(seconds):
        while True:
            if predicate():
                return
            await trio.sleep(step)
