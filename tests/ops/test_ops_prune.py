"""`spark prune`: ended runs removed by age or count, on the files when no server runs and through the server's
audited DELETE when one does; queued and running runs never; a kill -9 in the middle leaves each run whole or gone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import Runner
from opshelp import ADMIN_TOKEN, SparkServer, clean_env

from spark.ids import new_run_id
from spark.service.record import FeedRef, RunRecord

DAY = 86_400_000
SUFFIXES = (".json", ".summary.json", ".equity.npy", ".trades.npy")


def plant(home: Path, started_at: int, status: str = "done") -> str:
    """A run's record and result files as the service leaves them."""
    run_id = new_run_id(started_at)
    folder = home / "evidence" / "backtest"
    folder.mkdir(parents=True, exist_ok=True)
    record = RunRecord(
        id=run_id,
        status=status,
        pair="X",
        timeframe="1h",
        strategy="sma_cross",
        feed=FeedRef(name="synthetic"),
        impl="mock",
        started_at=started_at,
    )
    (folder / f"run_{run_id}.json").write_text(json.dumps({"runs": [record.to_wire()]}))
    if status == "done":
        for suffix in SUFFIXES:
            (folder / f"{run_id}{suffix}").write_bytes(b"x" * 1000)
    return run_id


def files_of(home: Path, run_id: str) -> set[str]:
    return {p.name for p in (home / "evidence" / "backtest").glob(f"*{run_id}*")}


def test_prune_on_the_files_by_count_and_by_age(home: Path, spark: Runner) -> None:
    now = int(time.time() * 1000)
    old = [plant(home, now - (40 + n) * DAY) for n in range(3)]
    new = plant(home, now - DAY)
    running = plant(home, now - 50 * DAY, status="running")  # never removed, however old
    dry = spark("prune", "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("would remove") == 3 and all(files_of(home, r) for r in old)
    done = spark("prune", "--older-than", "30d")
    assert done.returncode == 0, done.stderr
    assert "removed 3 run(s) on the files" in done.stderr
    assert all(not files_of(home, r) for r in old) and files_of(home, running) == {f"run_{running}.json"}
    assert len(files_of(home, new)) == 5
    assert spark("prune", "--keep", "0").returncode == 0
    assert not files_of(home, new) and files_of(home, running)


def test_bad_arguments_are_one_line_and_exit_2(spark_here: Runner) -> None:
    for args in (
        ["prune"],
        ["prune", "--older-than", "thirty"],
        ["prune", "--keep", "-1"],
        ["prune", "--keep", "1", "--older-than", "1d"],
    ):
        out = spark_here(*args)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, (args, out.stderr)


def test_prune_goes_through_the_running_server_and_is_audited(home: Path, spark: Runner) -> None:
    now = int(time.time() * 1000)
    ids = [plant(home, now - (10 - n) * DAY) for n in range(4)]
    server = SparkServer(home)
    try:
        out = spark("prune", "--keep", "1", ADMIN_TOKEN=ADMIN_TOKEN)
        assert out.returncode == 0, out.stderr
        assert "through the server at" in out.stderr and out.stdout.count("removed bt-") == 3
        listed = httpx.get(f"{server.url}/api/backtest").json()
        assert [r["id"] for r in listed["runs"]] == [ids[-1]] and listed["total"] == 1
        assert all(not files_of(home, r) for r in ids[:3])
        refused = spark("prune", "--keep", "0")  # no token: the server refuses, said in one line
        assert refused.returncode == 2 and "ADMIN_TOKEN" in refused.stderr
    finally:
        server.stop()
    audit = [json.loads(x) for p in (home / "logs" / "audit").glob("*.log") for x in p.read_text().splitlines()]
    assert [(x["id"], x["success"]) for x in audit if x["action"] == "delete"] == [(r, True) for r in ids[:3]]


def test_a_kill_in_the_middle_of_a_prune_leaves_each_run_whole_or_gone(home: Path) -> None:
    now = int(time.time() * 1000)
    ids = [plant(home, now - (400 - n) * 1000) for n in range(300)]
    server = SparkServer(home)
    prune = subprocess.Popen(
        [sys.executable, "-m", "spark.cli", "prune", "--keep", "0"],
        cwd=home,
        env=clean_env(home, ADMIN_TOKEN=ADMIN_TOKEN),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            total = httpx.get(f"{server.url}/api/backtest?limit=1").json()["total"]
            if total < 250:
                break
            time.sleep(0.02)
        server.proc.send_signal(signal.SIGKILL)  # in the middle of the deletes
        server.proc.wait(timeout=10)
    finally:
        prune.kill()
        prune.wait()
        server.stop()
    restarted = SparkServer(home)  # start-up takes the orphans of a delete cut off
    try:
        listed = {r["id"] for r in httpx.get(f"{restarted.url}/api/backtest?limit=1000").json()["runs"]}
    finally:
        restarted.stop()
    assert 0 < len(listed) < 300
    for run_id in ids:
        names = files_of(home, run_id)
        assert (run_id in listed and len(names) == 5) or (run_id not in listed and not names), (run_id, names)
