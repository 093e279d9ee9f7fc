"""Faults against a real `spark serve` process (temporary folders, ADMIN_TOKEN set):

- a `kill -9` of the server takes its engine worker processes with it (they must not go on computing and writing
  result files for runs the next start marks interrupted);
- SIGTERM ends the process within the documented grace (`spark.system.SHUTDOWN_GRACE_S`) even when SSE clients
  have stopped reading and their connections are stuck behind a zero window.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opshelp import ADMIN_TOKEN, clean_env

from spark.system import SHUTDOWN_GRACE_S

pytestmark = pytest.mark.slow

HEADERS = {"x-admin-token": ADMIN_TOKEN}

SLEEPY = '''
"""A throwaway strategy plugin whose run takes a minute: time for the test to kill the server under it. Each run
leaves a file named after its worker's pid in $SLEEPY_DIR as it begins."""
import os
import time
from pathlib import Path

import numpy as np
import spark


def sleepy(params, ctx):
    Path(os.environ["SLEEPY_DIR"], str(os.getpid())).touch()
    time.sleep(60)
    n = len(ctx.candles.close)
    ctx.signals(np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))


@spark.hookimpl
def register_strategies(register):
    register(spark.StrategySpec(name="sleepy", fn=sleepy, version="1", help="sleeps for a minute"))
'''


class Server:
    """`spark serve --port 0` in ``home``; the URL is read from its stdout, the rest of the output kept in a file."""

    def __init__(self, home: Path, **env: str) -> None:
        self.log = home / "server.log"
        env = clean_env(home, ADMIN_TOKEN=ADMIN_TOKEN, SPARK_DATA_DIR=str(home / "data"), **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spark.cli", "serve", "--port", "0"],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
        )
        self.url = self._read_url()

    def _read_url(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=0.5):
                    continue
                line = self.proc.stdout.readline()
                if not line:
                    break
                found = re.search(r"https?://\S+", line)
                if found:
                    return found.group(0)
        self.close()
        raise AssertionError("spark serve printed no URL:\n" + self.log.read_text()[-3000:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.close()


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) from /proc/<pid>/stat; None once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def children(pid: int) -> dict[int, int]:
    """{child pid: start time} of ``pid``, by scanning /proc (no psutil)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid:
                found[int(entry.name)] = stat[2]
    return found


def alive(pid: int, started: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[0] not in ("Z", "X")


def wait_for(predicate, seconds: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_engine_workers_die_with_a_killed_server(tmp_path: Path, servers: list[Server]) -> None:
    site = tmp_path / "site"
    (site / "sleepy_spark-0.1.dist-info").mkdir(parents=True)
    (site / "sleepy_spark.py").write_text(SLEEPY)
    (site / "sleepy_spark-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: sleepy-spark\n")
    (site / "sleepy_spark-0.1.dist-info" / "entry_points.txt").write_text("[spark]\nsleepy = sleepy_spark\n")
    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    busy = tmp_path / "busy"
    busy.mkdir()
    server = Server(tmp_path, BACKTEST_IMPL="engine", PYTHONPATH=path, SPARK_MAX_CONCURRENT="2", SLEEPY_DIR=str(busy))
    servers.append(server)
    workers: dict[int, int] = {}
    try:
        for _ in range(2):
            answer = httpx.post(
                server.url + "/api/backtest/start",
                json={"strategy": "sleepy", "feed": {"name": "synthetic", "args": {"bars": 100}}},
                headers=HEADERS,
                timeout=10,
            )
            assert answer.status_code == 201, answer.text
        # both runs are computing in their workers (not merely marked running while a worker starts up)
        assert wait_for(lambda: len(list(busy.iterdir())) == 2, 60), server.log.read_text()[-3000:]
        workers = children(server.proc.pid)
        assert {int(f.name) for f in busy.iterdir()} <= set(workers), workers
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        assert wait_for(lambda: not any(alive(pid, t) for pid, t in workers.items()), 5.0), (
            "processes outlived the server: "
            + ", ".join(
                f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()[:200]!r}"
                for pid, t in workers.items()
                if alive(pid, t)
            )
        )
    finally:
        for pid, started in workers.items():  # only the processes this test made, by pid
            if alive(pid, started):
                os.kill(pid, signal.SIGKILL)
    assert not list((tmp_path / "evidence" / "backtest").glob("bt-*.json"))  # no result written after the kill


def _stalled_subscriber(url: str) -> socket.socket:
    """A client that subscribes to the stream and never reads: a tiny receive buffer, so the window closes soon."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /api/backtest/stream HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    return sock


def test_sigterm_ends_within_the_grace_while_sse_clients_stopped_reading(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(
        tmp_path,
        BACKTEST_IMPL="mock",
        SPARK_MOCK_DELAY_S="0.01",
        SPARK_RATE_LIMIT_PER_MINUTE="100000",
        SPARK_QUEUE_SIZE="1000",
        SPARK_MAX_CONCURRENT="8",
        SPARK_HEARTBEAT_S="0.2",
    )
    servers.append(server)
    stalled = [_stalled_subscriber(server.url) for _ in range(6)]
    try:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as client:
            notes = "n" * 900  # fat records: the stalled connections fill up sooner
            for _ in range(150):
                assert client.post("/api/backtest/start", json={"notes": notes}).status_code == 201
            assert wait_for(
                lambda: all(r["status"] == "done" for r in client.get("/api/backtest?limit=1000").json()["runs"]),
                60,
            )
        begun = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            code = server.proc.wait(timeout=SHUTDOWN_GRACE_S + 30)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - begun
    finally:
        for sock in stalled:
            sock.close()
    assert code == 0, server.log.read_text()[-3000:]
    assert took <= SHUTDOWN_GRACE_S + 1.0, f"SIGTERM took {took:.1f} s (the grace is {SHUTDOWN_GRACE_S:g} s)"
