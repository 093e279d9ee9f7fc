"""Helpers shared by the API tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import serverkit
import trio
from httpx_sse import EventSource

TOKEN = "s3cret-token"
audit_lines = serverkit.audit_lines  # every audit line written so far, parsed (the API tests import it from here)


def admin(**extra: str) -> dict[str, str]:
    return {"x-admin-token": TOKEN, **extra}


def served(app: Any, stall_timeout_s: float = 3.0) -> AbstractAsyncContextManager[str]:
    """Serve ``app`` with a real Hypercorn on 127.0.0.1:<free port>; yields the base URL, stops gracefully."""
    return serverkit.served(app, stall_timeout_s=stall_timeout_s)


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


class ServerProcess:
    """A real ``spark serve --port 0`` child process in ``cwd``; the URL is read from its stdout. Its state dir
    (the pid file) is ``cwd/.spark`` unless ``env`` says otherwise, whatever the outer environment holds."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "SPARK_STATE_DIR": str(cwd / ".spark"), **env}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.stderr_path = cwd / f"server-{os.getpid()}-{id(self)}.log"

    def spawn(self) -> subprocess.Popen[str]:
        with self.stderr_path.open("a") as stderr:
            return subprocess.Popen(
                [sys.executable, "-m", "spark.cli", "serve", "--port", "0"],
                cwd=self.cwd,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    async def start(self) -> str:
        self.proc = self.spawn()
        assert self.proc.stdout is not None
        with trio.fail_after(60):
            while True:
                line = await trio.to_thread.run_sync(self.proc.stdout.readline, abandon_on_cancel=True)
                if not line:
                    raise AssertionError(f"spark serve exited: {self.stderr_path.read_text()[-2000:]}")
                if "serving on" in line:
                    self.url = line.split("serving on", 1)[1].split()[0]
                    return self.url

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait(self, seconds: float = 30.0) -> int:
        assert self.proc is not None
        with trio.fail_after(seconds):
            return await trio.to_thread.run_sync(self.proc.wait, abandon_on_cancel=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@asynccontextmanager
async def spark_serve(cwd: Path, **env: str) -> AsyncIterator[ServerProcess]:
    """``spark serve`` in ``cwd`` with ``env`` added; stopped with SIGINT (then killed if it lingers)."""
    server = ServerProcess(cwd, {"ADMIN_TOKEN": TOKEN, "BACKTEST_IMPL": "mock", **env})
    await server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGINT)
            try:
                await server.wait(30)
            finally:
                server.kill()
