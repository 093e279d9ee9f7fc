"""The operator handles against real `spark serve` processes: the pid file, `spark status`, `spark reload`.

Each server runs in its own temporary home with its own state dir (``SPARK_STATE_DIR``, see `opshelp.clean_env`);
the `spark` fixture runs the CLI as a real process with the same environment, from the same folder.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opshelp import ADMIN_TOKEN, SparkServer

pytestmark = pytest.mark.slow
AUTH = {"x-admin-token": ADMIN_TOKEN}
Runner = Callable[..., subprocess.CompletedProcess[str]]  # the `spark` fixture of conftest.py


@pytest.fixture
def server(home: Path) -> Iterator[SparkServer]:
    running = SparkServer(home)
    try:
        yield running
    finally:
        running.stop()


def _pid_file(home: Path) -> Path:
    return home / ".spark" / "spark.pid"


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("spark: error:") and "Traceback" not in stderr, stderr
    return lines[0]


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- the pid file ------------------------------------------------------------------------------------------------


def test_serve_writes_the_pid_file_and_sigterm_removes_it(server: SparkServer, home: Path) -> None:
    path = _pid_file(home)
    doc = json.loads(path.read_text())
    assert doc["pid"] == server.pid and doc["url"] == server.url and isinstance(doc["startedAt"], int)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    assert not path.exists()


def test_a_second_serve_on_the_same_state_dir_refuses_in_one_line(
    server: SparkServer, home: Path, spark: Runner
) -> None:
    before = _pid_file(home).read_bytes()
    second = spark("serve", "--port", "0", BACKTEST_IMPL="mock", timeout=60)
    assert second.returncode == 2
    line = _one_error_line(second.stderr)
    assert f"pid {server.pid}" in line and server.url in line and "SPARK_STATE_DIR" in line
    assert _pid_file(home).read_bytes() == before
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200  # the first one serves on


def test_a_stale_pid_file_is_replaced(home: Path) -> None:
    path = _pid_file(home)
    path.parent.mkdir()
    path.write_text(json.dumps({"pid": _dead_pid(), "url": "http://127.0.0.1:9", "startedAt": 1}))
    running = SparkServer(home)  # a server that was killed -9 left this behind
    try:
        doc = json.loads(path.read_text())
        assert (doc["pid"], doc["url"]) == (running.pid, running.url)
    finally:
        running.stop()
    assert not path.exists()


# -- spark status ------------------------------------------------------------------------------------------------


def test_status_of_a_healthy_server(server: SparkServer, spark: Runner) -> None:
    done = spark("status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Spark at {server.url} (pid {server.pid}, started ")
    assert {"health: ok", "writeEnabled: true", "impl: mock", "disabledPlugins: []", "reloadError: null"} <= set(lines)
    raw = spark("status", "--json")
    assert raw.returncode == 0
    doc = json.loads(raw.stdout)
    assert (doc["url"], doc["pid"], doc["healthy"], doc["health"]) == (server.url, server.pid, True, {"status": "ok"})
    assert doc["config"] == httpx.get(server.url + "/api/config", timeout=10).json()
    by_url = spark("status", "--url", server.url + "/", SPARK_STATE_DIR="/nonexistent")
    assert by_url.returncode == 0 and "health: ok" in by_url.stdout


def test_status_of_a_server_that_does_not_answer(server: SparkServer, spark: Runner) -> None:
    server.proc.send_signal(signal.SIGSTOP)
    try:
        stuck = spark("status", "--timeout", "1")
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert stuck.returncode == 1
    assert "health: no answer within 1 s" in stuck.stdout
    assert spark("status").returncode == 0  # back


class _Unhealthy(BaseHTTPRequestHandler):
    """A server at the HTTP boundary whose actors have stopped: /health answers 503, as Spark's does then."""

    def do_GET(self) -> None:
        if self.path == "/health":
            status, doc = 503, {"status": "down", "error": "unavailable", "message": "an actor has stopped"}
        else:
            status, doc = 200, {"adminEnabled": False, "writeEnabled": True, "impl": "engine"}
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_status_of_an_unhealthy_or_absent_server(spark: Runner, home: Path) -> None:
    fake = ThreadingHTTPServer(("127.0.0.1", 0), _Unhealthy)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        down = spark("status", "--url", f"http://127.0.0.1:{fake.server_address[1]}")
        raw = spark("status", "--json", "--url", f"http://127.0.0.1:{fake.server_address[1]}")
    finally:
        fake.shutdown()
        fake.server_close()
    assert down.returncode == 1
    assert "health: down (HTTP 503): an actor has stopped" in down.stdout
    assert raw.returncode == 1 and json.loads(raw.stdout)["healthy"] is False

    refused = spark("status", "--url", f"http://127.0.0.1:{fake.server_address[1]}")  # closed now
    assert refused.returncode == 1 and "health: no answer" in refused.stdout

    nothing = spark("status")
    assert nothing.returncode == 2 and "no server" in _one_error_line(nothing.stderr)

    _pid_file(home).parent.mkdir()
    _pid_file(home).write_text(json.dumps({"pid": _dead_pid(), "url": "http://127.0.0.1:9", "startedAt": 1}))
    stale = spark("status")
    assert stale.returncode == 1 and "stale pid file" in _one_error_line(stale.stderr)


# -- spark reload ------------------------------------------------------------------------------------------------


def test_reload_switches_write_off_and_back_on_and_says_so(server: SparkServer, home: Path, spark: Runner) -> None:
    http = httpx.Client(base_url=server.url, timeout=10)
    run_id = http.post("/api/backtest/start", json={}, headers=AUTH).json()["id"]
    (home / "spark.toml").write_text('[plugins]\ndisabled = ["write"]\n')
    off = spark("reload")
    assert off.returncode == 0, off.stderr
    assert "  writeEnabled: true -> false" in off.stdout.splitlines()
    assert '  disabledPlugins: [] -> ["write"]' in off.stdout.splitlines()
    assert http.post("/api/backtest/start", json={}, headers=AUTH).status_code == 404
    assert http.delete(f"/api/backtest/cancel/{run_id}", headers=AUTH).status_code == 404
    assert http.get(f"/api/backtest/{run_id}").status_code == 200
    config = http.get("/api/config").json()
    assert (config["reloads"], config["reloadAttempts"], config["reloadError"]) == (1, 1, None)
    assert isinstance(config["reloadedAt"], int) and "write" not in config["plugins"]
    assert "writeEnabled: false" in spark("status").stdout.splitlines()

    (home / "spark.toml").write_text("")
    on = spark("reload")
    assert on.returncode == 0 and "  writeEnabled: false -> true" in on.stdout.splitlines()
    assert http.post("/api/backtest/start", json={}, headers=AUTH).status_code == 201
    unchanged = spark("reload")
    assert unchanged.returncode == 0 and unchanged.stdout.splitlines()[1:] == ["  nothing changed"]
    assert server.proc.poll() is None, "no restart"


def test_a_reload_that_does_not_load_is_reported_and_the_old_config_kept(
    server: SparkServer, home: Path, spark: Runner
) -> None:
    (home / "spark.toml").write_text("[plugins\ndisabled = ['write']\n")
    bad = spark("reload")
    assert bad.returncode == 1
    line = _one_error_line(bad.stderr)
    assert "does not load" in line and "spark.toml" in line and "keeps the old one" in line
    http = httpx.Client(base_url=server.url, timeout=10)
    config = http.get("/api/config").json()
    assert (config["writeEnabled"], config["reloads"], config["reloadAttempts"]) == (True, 0, 1)
    assert "spark.toml" in config["reloadError"]
    assert http.post("/api/backtest/start", json={}, headers=AUTH).status_code == 201
    again = spark("reload")  # the same error twice is still a reload reported, not a timeout
    assert again.returncode == 1 and "does not load" in again.stderr

    (home / "spark.toml").write_text("[spark]\nqueue_size = 0\n")  # parses, but a bad value
    assert spark("reload").returncode == 1
    (home / "spark.toml").write_text("")
    fixed = spark("reload")
    assert fixed.returncode == 0, fixed.stderr
    assert http.get("/api/config").json()["reloadError"] is None


def test_reload_without_a_server(spark: Runner, home: Path) -> None:
    nothing = spark("reload")
    assert nothing.returncode == 2 and "no server" in _one_error_line(nothing.stderr)
    _pid_file(home).parent.mkdir()
    _pid_file(home).write_text(json.dumps({"pid": _dead_pid(), "url": "http://127.0.0.1:9", "startedAt": 1}))
    stale = spark("reload")
    assert stale.returncode == 1 and "stale pid file" in _one_error_line(stale.stderr)


def test_help_names_the_operator_commands(spark_here: Runner) -> None:
    done = spark_here("--help")
    assert done.returncode == 0
    commands = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert {"serve", "status", "reload"} <= commands
    for name, words in (("status", "exit 0"), ("reload", "SIGHUP"), ("serve", "pid file")):
        sub = spark_here(name, "--help")
        assert sub.returncode == 0 and words.lower() in " ".join(sub.stdout.lower().split()), sub.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--url", "notaurl"),
        ("status", "--url", "ftp://127.0.0.1:1"),
        ("status", "--url", "http://127.0.0.1:99999"),
        ("status", "--url", "http://["),
        ("status", "--timeout", "0"),
        ("status", "--timeout", "nan"),
        ("reload", "--timeout", "-1"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(spark_here: Runner, args: tuple[str, ...]) -> None:
    done = spark_here(*args)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in done.stderr, done.stderr
