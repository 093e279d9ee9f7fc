"""`spark.ops.pidfile` on real files and real processes: who owns the pid file, and when a claim replaces it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark.ops.pidfile import (
    AlreadyServing,
    PidFileError,
    ServerInfo,
    claim,
    is_spark_server,
    live_owner,
    pid_path,
    read_pid_file,
    release,
)

ME = ServerInfo(pid=os.getpid(), url="http://127.0.0.1:1", started_at=1_700_000_000_000)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not a Spark server."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line is that of `python -m spark.cli serve` (a script named spark.cli that
    only sleeps), so the identity check sees a server without one being started."""
    script = tmp_path / "bin" / "spark.cli"
    script.parent.mkdir()
    script.write_text("import time\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script), "serve", "--port", "0"])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while str(script).encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # until the child has exec'd: before that /proc shows the parent's command line
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_claim_writes_json_atomically_with_mode_0644_and_release_removes_it(tmp_path: Path) -> None:
    path = pid_path(tmp_path / "state")
    claim(path, ME)
    assert json.loads(path.read_text()) == {"pid": ME.pid, "url": ME.url, "startedAt": ME.started_at}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert read_pid_file(path) == ME
    assert [p.name for p in path.parent.iterdir()] == ["spark.pid"]  # no temp file left beside it
    release(path, ME.pid)
    assert not path.exists()


def test_release_leaves_another_servers_file_alone(tmp_path: Path) -> None:
    path = pid_path(tmp_path)
    claim(path, ME)
    release(path, ME.pid + 1)
    assert read_pid_file(path) == ME


def test_no_file_is_none_and_a_damaged_one_is_an_error(tmp_path: Path) -> None:
    path = pid_path(tmp_path)
    assert read_pid_file(path) is None and live_owner(path) is None
    for text in ("", "{", "[]", '{"pid": "12", "url": "u", "startedAt": 1}', '{"pid": 12, "startedAt": 1}'):
        path.write_text(text)
        with pytest.raises(PidFileError, match="damaged"):
            read_pid_file(path)
        assert live_owner(path) is None


def test_only_a_live_spark_serve_other_than_us_counts_as_a_server(
    sleeper: subprocess.Popen[bytes], fake_server: subprocess.Popen[bytes]
) -> None:
    assert is_spark_server(fake_server.pid)
    assert not is_spark_server(sleeper.pid)  # alive, but some other program (a reused pid)
    assert not is_spark_server(_dead_pid())
    assert not is_spark_server(os.getpid())  # a restarted server with its old pid (pid 1 in a container)


def test_a_zombie_server_is_not_a_server(tmp_path: Path, fake_server: subprocess.Popen[bytes]) -> None:
    fake_server.kill()  # not reaped yet: a zombie keeps its pid but has no command line
    os.waitid(os.P_PID, fake_server.pid, os.WEXITED | os.WNOWAIT)
    assert not is_spark_server(fake_server.pid)


@pytest.mark.parametrize("kind", ["dead", "other program", "damaged", "ours"])
def test_claim_replaces_a_stale_file(tmp_path: Path, sleeper: subprocess.Popen[bytes], kind: str) -> None:
    path = pid_path(tmp_path)
    pids = {"dead": _dead_pid(), "other program": sleeper.pid, "ours": os.getpid()}
    path.write_text("{not json" if kind == "damaged" else json.dumps({"pid": pids[kind], "url": "x", "startedAt": 1}))
    claim(path, ME)
    assert read_pid_file(path) == ME


def test_claim_refuses_while_a_live_server_owns_the_file(tmp_path: Path, fake_server: subprocess.Popen[bytes]) -> None:
    path = pid_path(tmp_path / "state")
    path.parent.mkdir()
    theirs = ServerInfo(pid=fake_server.pid, url="http://127.0.0.1:2", started_at=1)
    path.write_text(json.dumps(theirs.to_wire()))
    assert live_owner(path) == theirs
    with pytest.raises(AlreadyServing, match=f"pid {fake_server.pid}.*http://127.0.0.1:2"):
        claim(path, ME)
    assert read_pid_file(path) == theirs
    assert [p.name for p in path.parent.iterdir()] == ["spark.pid"]  # the refused claim's temp file is gone
