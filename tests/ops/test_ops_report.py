"""`spark report daily`: from run records and audit lines on disk (written by hand, and by a real server), the day's
runs by status, durations, slowest runs, failures, refusals by reason and IP, and evidence size."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Runner
from opshelp import ADMIN_TOKEN, SparkServer

from spark.ops.daily import percentile

DAY = datetime(2026, 3, 4, tzinfo=UTC)
DAY_MS = int(DAY.timestamp() * 1000)


def _run(home: Path, n: int, status: str, *, start_s: float, seconds: float | None, error: str | None = None) -> str:
    started = DAY_MS + int(start_s * 1000)
    run_id = f"bt-{started}-{n:08x}"
    record = {
        "id": run_id,
        "status": status,
        "strategy": "sma_cross" if n % 2 else "rsi_reversion",
        "startedAt": started,
        "finishedAt": None if seconds is None else started + int(seconds * 1000),
        "error": error,
    }
    folder = home / "evidence" / "backtest"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"run_{run_id}.json").write_text(json.dumps({"runs": [record]}))
    return run_id


def _audit(home: Path, day: str, lines: list[dict[str, Any]]) -> None:
    folder = home / "logs" / "audit"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"backtest_{day}.log").open("a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


def _refusal(ip: str, error: str, action: str = "start") -> dict[str, Any]:
    return {"timestamp": "2026-03-04T10:00:00.000Z", "action": action, "ip": ip, "user": None, "id": None,
            "payload": {}, "success": False, "error": error}  # fmt: skip


def test_the_report_of_one_day_from_hand_written_files(home: Path, spark_here: Runner) -> None:
    durations = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000]  # done runs, seconds
    for n, seconds in enumerate(durations):
        _run(home, n, "done", start_s=3600 + n, seconds=seconds)
    result_file = home / "evidence" / "backtest" / f"bt-{DAY_MS + 3600000}-{0:08x}.json"
    result_file.write_bytes(b"x" * 5000)  # a result document of the first run: the day's evidence
    _run(home, 20, "failed", start_s=7200, seconds=5, error="interrupted")
    _run(home, 21, "failed", start_s=7300, seconds=2, error="strategy sma_cross raised: ValueError")
    _run(home, 22, "failed", start_s=7400, seconds=3000, error="cancelled")  # not a duration
    _run(home, 23, "running", start_s=7500, seconds=None)
    _run(home, 24, "done", start_s=-10, seconds=1)  # the day before: not counted
    (home / "evidence" / "backtest" / f"run_bt-{DAY_MS + 8000000}-0000abcd.json").write_text("{torn")
    _audit(
        home,
        "20260304",
        [
            _refusal("10.0.0.1", "unauthorized: the token does not match a user"),
            _refusal("10.0.0.1", "unauthorized: a token is required"),
            _refusal("10.0.0.2", "rate_limited: 10 starts a minute"),
            _refusal("10.0.0.1", "conflict: run bt-1-0 is done", action="cancel"),
            {**_refusal("10.0.0.3", ""), "success": True},
        ],
    )
    _audit(home, "20260305", [_refusal("10.9.9.9", "unauthorized: x")])  # another day

    done = spark_here("report", "daily", "--day", "20260304", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["day"] == "20260304"
    assert doc["runs"] == {
        "started": 14,
        "byStatus": {"queued": 0, "running": 1, "done": 10, "failed": 3},
        "cancelled": 1,
        "unreadable": 1,
    }
    ended = [*durations, 5, 2]
    assert doc["durations"] == {
        "count": 12,
        "p50": percentile(ended, 0.5),
        "p95": percentile(ended, 0.95),
        "max": 1000.0,
    }
    assert doc["durations"]["p50"] == 45.0  # sorted: 2 5 10 20 30 40 | 50 60 70 80 90 1000: between 40 and 50
    assert [r["durationS"] for r in doc["slowest"]] == [1000.0, 90.0, 80.0, 70.0, 60.0]
    assert doc["slowest"][0]["status"] == "done" and doc["slowest"][0]["id"].startswith("bt-")
    assert doc["failures"] == [
        {"error": "cancelled", "count": 1},
        {"error": "interrupted", "count": 1},
        {"error": "strategy sma_cross raised: ValueError", "count": 1},
    ]
    assert doc["audit"]["lines"] == 5 and doc["audit"]["refused"] == 4
    assert doc["audit"]["refusals"] == [
        {"action": "start", "reason": "unauthorized", "ip": "10.0.0.1", "count": 2},
        {"action": "cancel", "reason": "conflict", "ip": "10.0.0.1", "count": 1},
        {"action": "start", "reason": "rate_limited", "ip": "10.0.0.2", "count": 1},
    ]
    evidence = doc["evidence"]
    assert evidence["files"] == 17 and evidence["dayFiles"] == 15  # 14 day's records + 1 result; not the day before
    assert evidence["dayBytes"] >= 5000 and evidence["bytes"] > evidence["dayBytes"]

    text = spark_here("report", "daily", "--day", "20260304")
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "Spark daily report for 2026-03-04 (UTC), from the evidence and audit files"
    assert "runs: 14 started; done 10, failed 3 (cancelled 1), queued 0, running 1" in lines[1]
    assert "p50 45.0 s" in lines[2] and "max 1000.0 s" in lines[2]
    assert "      2  start  unauthorized  10.0.0.1" in lines


def test_a_day_without_files_is_an_empty_report_and_a_bad_day_is_one_line(home: Path, spark_here: Runner) -> None:
    empty = spark_here("report", "daily", "--day", "20200101", "--json")
    assert empty.returncode == 0, empty.stderr
    doc = json.loads(empty.stdout)
    assert doc["runs"]["started"] == 0 and doc["durations"]["p50"] is None and doc["audit"]["refused"] == 0
    bad = spark_here("report", "daily", "--day", "2020-13-45")
    assert bad.returncode == 2 and bad.stderr.startswith("spark: error: ") and len(bad.stderr.splitlines()) == 1
    missing = spark_here("report")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) <= 2


@pytest.mark.slow
def test_the_report_of_a_real_servers_day(tmp_path: Path, spark: Runner, home: Path) -> None:
    server = SparkServer(home, SPARK_MOCK_DELAY_S="0.2")
    try:
        http = httpx.Client(base_url=server.url, timeout=10)
        auth = {"x-admin-token": ADMIN_TOKEN}
        ids = [http.post("/api/backtest/start", json={}, headers=auth).json()["id"] for _ in range(2)]
        assert http.post("/api/backtest/start", json={}, headers={"x-admin-token": "nope"}).status_code == 401
        deadline = time.monotonic() + 20
        while any(http.get(f"/api/backtest/{i}").json()["status"] != "done" for i in ids):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        server.stop()
    done = spark("report", "daily", "--json")  # today, by default: the server's runs are today's
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["runs"]["byStatus"]["done"] == 2 and doc["durations"]["count"] == 2
    assert 0.2 <= doc["durations"]["p50"] < 10
    assert doc["audit"]["refusals"] == [{"action": "start", "reason": "unauthorized", "ip": "127.0.0.1", "count": 1}]
    assert doc["evidence"]["dayFiles"] >= 2
