"""Helpers of the live-session tests: small Spark-layout CSV files with a known shape."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio

from spark.api.server import serve_app
from spark.market.replay import HEADER, write_row
from spark.market.source import LiveCandle

__all__ = ["served", "spawn_server", "until", "wave", "write_csv"]

T0 = 1_700_000_000_000  # a minute boundary


def wave(n: int, *, step_ms: int = 60_000, start: int = T0, period: int = 40) -> list[LiveCandle]:
    """``n`` evenly spaced candles on a sine wave: SMA crosses every half period, so sessions trade."""
    rows = []
    prev = 100.0
    for i in range(n):
        close = 100.0 + 10.0 * math.sin(2 * math.pi * i / period) + 0.01 * i
        high, low = max(prev, close) + 0.5, min(prev, close) - 0.5
        rows.append(LiveCandle(ts=start + i * step_ms, open=prev, high=high, low=low, close=close, volume=1.0 + i))
        prev = close
    return rows


def write_csv(path: Path, rows: list[LiveCandle]) -> Path:
    path.write_text(HEADER + "\n" + "".join(write_row(c) for c in rows), encoding="utf-8")
    return path


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """``app`` on a real Hypercorn at 127.0.0.1:<free port>; yields the base URL, stops gracefully."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            partial(serve_app, app, host="127.0.0.1", port=0, shutdown_trigger=stop.wait, graceful_timeout_s=1.0)
        )
        try:
            yield binds[0]
        finally:
            stop.set()


def _popen(cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    with (cwd / "server.log").open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "spark.cli", "serve", "--port", "0"],
            cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip


async def until(check: Any, seconds: float = 15.0) -> None:
    """Poll the async ``check()`` until it is true; TooSlowError after ``seconds``."""
    with trio.fail_after(seconds):
        while True:
            if await check():
                return
            await trio.sleep(0.05)


async def spawn_server(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A real ``spark serve --port 0`` child in ``cwd``; returns it and its URL (read from its stdout)."""
    proc = _popen(cwd, env)
    assert proc.stdout is not None
    with trio.fail_after(60):
        while True:
            line = await trio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)
            if not line:
                raise AssertionError(f"spark serve exited: {(cwd / 'server.log').read_text()[-2000:]}")
            if "serving on" in line:
                return proc, line.split("serving on", 1)[1].split()[0]
