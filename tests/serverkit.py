"""Helpers of the tests that serve Spark for real (imported by name: tests/ is on sys.path): an app on a real
Hypercorn in-process, a real ``spark serve`` child process, polling until something holds, and the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio

from spark.api.server import serve_app
from spark.config import Settings

__all__ = ["audit_lines", "served", "spawn_server", "until"]


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    """Every audit line written so far, parsed."""
    lines: list[dict[str, Any]] = []
    for path in sorted(settings.audit_dir.glob("backtest_*.log")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines


@asynccontextmanager
async def served(app: Any, **options: Any) -> AsyncIterator[str]:
    """``app`` on a real Hypercorn at 127.0.0.1:<free port> (``options``: serve_app's, such as
    ``stall_timeout_s``); yields the base URL, stops gracefully."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            partial(
                serve_app, app, host="127.0.0.1", port=0, shutdown_trigger=stop.wait, graceful_timeout_s=1.0, **options
            )
        )
        try:
            yield binds[0]
        finally:
            stop.set()


async def until(check: Callable[[], Any], seconds: float = 60.0, step: float = 0.05) -> None:
    """Poll ``check()`` (sync or async) until it is true; TooSlowError after ``seconds``."""
    with trio.fail_after(seconds):
        while True:
            value = check()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return
            await trio.sleep(step)


def _popen(cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    with (cwd / "server.log").open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "spark.cli", "serve", "--port", "0"],
            cwd=cwd, env={**os.environ, "SPARK_STATE_DIR": str(cwd / ".spark"), **env},
            stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip


async def spawn_server(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A real ``spark serve --port 0`` child in ``cwd`` (its own state dir, ``cwd/.spark``, unless ``env`` names
    one); returns it and its URL (read from its stdout). Its stderr goes to ``cwd/server.log``."""
    proc = _popen(cwd, env)
    assert proc.stdout is not None
    with trio.fail_after(60):
        while True:
            line = await trio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)
            if not line:
                raise AssertionError(f"spark serve exited: {(cwd / 'server.log').read_text()[-2000:]}")
            if "serving on" in line:
                return proc, line.split("serving on", 1)[1].split()[0]
