"""Browser tests: Debian's Chromium driven by Playwright (sync API, plain test functions) against a real
`spark serve` subprocess on a free port with its own temporary folders.

No browser is ever downloaded: Playwright launches the system's `chromium`. Without it the tests skip locally and
FAIL under CI=true. Every page gets a console listener: a page error or a console error fails the test, except
network errors the test declares beforehand (a 400 it provokes, a refused connection while it stops the server).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
TOKEN = "browser-test-token"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_URL = re.compile(r"(http://[0-9.]+:([0-9]+))")


def _spark_command() -> list[str]:
    script = Path(sys.executable).with_name("spark")
    if script.exists():
        return [str(script)]
    found = shutil.which("spark")
    if found is None:
        pytest.fail("the `spark` command is not installed (pip install -e .)")
    return [found]


class Server:
    """One `spark serve` process; `stop()` ends it with SIGTERM, `start()` brings it back on the same port."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 60.0) -> Server:
        found = threading.Event()
        proc = subprocess.Popen(
            [*_spark_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.proc = proc

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line.rstrip())
                match = _URL.search(line)
                if match and not found.is_set():
                    self.url, self.port = match.group(1), int(match.group(2))
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail("spark serve did not start:\n" + "\n".join(self.output[-30:]))
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"x-admin-token": TOKEN}, timeout=10)

    def start_run(self, **body: Any) -> str:
        with self.api() as client:
            answer = client.post("/api/backtest/start", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def wait_status(self, run_id: str, statuses: set[str], timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.api() as client:
            while True:
                record = client.get(f"/api/backtest/{run_id}").json()
                if record["status"] in statuses:
                    return record
                if time.monotonic() > deadline:
                    pytest.fail(f"{run_id} still {record['status']} after {timeout} s")
                time.sleep(0.2)


def make_server(tmp: Path, **env: str) -> Server:
    for sub in ("evidence", "logs", "data"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "ADMIN_", "BACKTEST_"))}
    full.update(
        {
            "SPARK_EVIDENCE_DIR": str(tmp / "evidence"),
            "SPARK_LOG_DIR": str(tmp / "logs"),
            "SPARK_DATA_DIR": str(tmp / "data"),
            "SPARK_STATE_DIR": str(tmp / ".spark"),  # its own pid file: parallel servers never collide
            "ADMIN_TOKEN": TOKEN,
            "ADMIN_ENABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    full.update(env)
    return Server(tmp, full)


@pytest.fixture(scope="package")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: CI must install Debian's chromium (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _server(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp(name), **env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def engine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real engine, admin actions on, a token configured."""
    yield from _server(tmp_path_factory, "engine", BACKTEST_IMPL="engine")


@pytest.fixture(scope="package")
def queue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Mock runs that take a minute, one at a time: the second run waits in the queue."""
    yield from _server(
        tmp_path_factory, "queue", BACKTEST_IMPL="mock", SPARK_MAX_CONCURRENT="1", SPARK_MOCK_DELAY_S="60"
    )


class Console:
    """Collects page errors and console errors; `allow(regex)` declares the network errors a test provokes."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        text = f"{message.text} ({message.location.get('url', '')})"
        if message.text.startswith("Failed to load resource") and any(p.search(text) for p in self.allowed):
            return
        self.errors.append(text)

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"page error: {error}")


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh context (empty local storage) at 1280x800; fails the test on any unexpected console error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    context.close()
    assert not console.errors, "console errors:\n" + "\n".join(console.errors)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
