"""`spark audit`: filters by day, time, action, outcome and IP; torn and bad lines never hide the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Runner

LINES = {
    "backtest_20261120.log": [
        {
            "timestamp": "2026-11-20T09:00:00.000Z",
            "action": "start",
            "ip": "127.0.0.1",
            "user": "admin",
            "id": "bt-1763629200000-00000001",
            "payload": {"pair": "ETHUSDT"},
            "success": True,
        },
        {
            "timestamp": "2026-11-20T23:59:59.000Z",
            "action": "start",
            "ip": "10.0.0.5",
            "user": "anonymous",
            "id": None,
            "payload": {},
            "success": False,
            "error": "unauthorized",
        },
    ],
    "backtest_20261121.log": [
        {
            "timestamp": "2026-11-21T08:00:00.000Z",
            "action": "cancel",
            "ip": "127.0.0.1",
            "user": "admin",
            "id": "bt-1763629200000-00000001",
            "payload": {},
            "success": True,
        },
        {
            "timestamp": "2026-11-21T08:00:01.000Z",
            "action": "start",
            "ip": "10.0.0.5",
            "user": "anonymous",
            "id": None,
            "payload": {},
            "success": False,
            "error": "rate_limited",
        },
        {
            "timestamp": "2026-11-21T12:00:00.000Z",
            "action": "cancel",
            "ip": "::1",
            "user": "admin",
            "id": "bt-1763629200000-00000002",
            "payload": {},
            "success": False,
            "error": "conflict",
        },
    ],
}


@pytest.fixture
def logs(home: Path) -> Path:
    audit = home / "logs" / "audit"
    audit.mkdir(parents=True)
    for name, records in LINES.items():
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        (audit / name).write_text(text)
    (audit / "notes.txt").write_text("not an audit log\n")
    return audit


def _records(done) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _times(done) -> list[str]:
    return [r["timestamp"] for r in _records(done)]


def test_all_lines_in_time_order(logs: Path, spark_here: Runner) -> None:
    done = spark_here("audit", "--json")
    assert _records(done) == LINES["backtest_20261120.log"] + LINES["backtest_20261121.log"]
    assert "5 audit line(s), 3 failed, in 2 file(s)" in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--failed"], ["2026-11-20T23:59:59.000Z", "2026-11-21T08:00:01.000Z", "2026-11-21T12:00:00.000Z"]),
        (["--success"], ["2026-11-20T09:00:00.000Z", "2026-11-21T08:00:00.000Z"]),
        (["--action", "cancel"], ["2026-11-21T08:00:00.000Z", "2026-11-21T12:00:00.000Z"]),
        (["--ip", "10.0.0.5"], ["2026-11-20T23:59:59.000Z", "2026-11-21T08:00:01.000Z"]),
        (["--ip", "0:0::1"], ["2026-11-21T12:00:00.000Z"]),
        (["--day", "20261120"], ["2026-11-20T09:00:00.000Z", "2026-11-20T23:59:59.000Z"]),
        (
            ["--since", "2026-11-21"],
            ["2026-11-21T08:00:00.000Z", "2026-11-21T08:00:01.000Z", "2026-11-21T12:00:00.000Z"],
        ),
        (["--until", "2026-11-20"], ["2026-11-20T09:00:00.000Z", "2026-11-20T23:59:59.000Z"]),
        (
            ["--since", "2026-11-20T23:00:00Z", "--until", "2026-11-21T08:00:01Z"],
            ["2026-11-20T23:59:59.000Z", "2026-11-21T08:00:00.000Z"],
        ),
        (
            ["--since", "2026-11-21T09:00:00+01:00"],
            ["2026-11-21T08:00:00.000Z", "2026-11-21T08:00:01.000Z", "2026-11-21T12:00:00.000Z"],
        ),
        (["--failed", "--action", "start", "--day", "20261121"], ["2026-11-21T08:00:01.000Z"]),
        (["--day", "20261119"], []),
    ],
)
def test_filters(logs: Path, spark_here: Runner, args: list[str], expected: list[str]) -> None:
    assert _times(spark_here("audit", "--json", *args)) == expected


def test_human_output_has_one_row_per_line_with_outcome_and_error(logs: Path, spark_here: Runner) -> None:
    done = spark_here("audit", "--failed")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert len(rows) == 3
    assert rows[0].split()[:5] == ["2026-11-20T23:59:59.000Z", "start", "FAILED", "10.0.0.5", "anonymous"]
    assert rows[0].endswith("unauthorized")


def test_a_torn_last_line_is_skipped_and_counted(logs: Path, spark_here: Runner) -> None:
    with (logs / "backtest_20261121.log").open("a") as f:
        f.write('{"timestamp":"2026-11-21T13:00:00.000Z","action":"sta')
    done = spark_here("audit", "--json", "--day", "20261121")
    assert len(_records(done)) == 3
    assert "1 torn last line(s) skipped" in done.stderr
    assert "warning" not in done.stderr


def test_a_bad_line_in_the_middle_is_reported_and_the_rest_read(logs: Path, spark_here: Runner) -> None:
    path = logs / "backtest_20261120.log"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "garbage\n" + "[1, 2]\n" + lines[1])
    done = spark_here("audit", "--json", "--day", "20261120")
    assert len(_records(done)) == 2
    assert f"{path}:2: not JSON" in done.stderr and f"{path}:3: not a JSON object" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--day", "2026-13-01"],
        ["--day", "yesterday"],
        ["--since", "last week"],
        ["--until", "2026-02-30"],
        ["--ip", "10.0.0.300"],
        ["--day", "20261120", "--since", "2026-11-20"],
        ["--since", "2026-11-22", "--until", "2026-11-21"],
    ],
)
def test_bad_input_is_one_line_and_non_zero(logs: Path, spark_here: Runner, args: list[str]) -> None:
    done = spark_here("audit", *args)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("spark: error:")


@pytest.mark.parametrize("args", [["--failed", "--success"], ["--action", "frobnicate"], ["--action", "change"]])
def test_bad_flags_are_refused_by_the_parser(logs: Path, spark_here: Runner, args: list[str]) -> None:
    done = spark_here("audit", *args)
    assert done.returncode == 2 and "error:" in done.stderr and not done.stdout


def test_no_audit_folder_is_an_error(home: Path, spark_here: Runner) -> None:
    done = spark_here("audit")
    assert done.returncode != 0 and "no audit logs" in done.stderr


def test_the_real_command_reviews_failed_lines(logs: Path, spark: Runner) -> None:
    """Once as a separate process, as the runbook runs it."""
    done = spark("audit", "--failed")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3 and "3 audit line(s), 3 failed" in done.stderr


MUTATIONS = [  # DESIGN.md's mutation table: every audit action
    "start",
    "cancel",
    "delete",
    "sweep.start",
    "sweep.cancel",
    "live.start",
    "live.stop",
    "data.upload",
    "change.submit",
    "change.edit",
    "change.approve",
    "change.reject",
    "change.withdraw",
]


def test_every_action_of_the_mutation_table_is_a_filter(home: Path, spark_here: Runner) -> None:
    folder = home / "logs" / "audit"
    folder.mkdir(parents=True)
    with (folder / "backtest_20261122.log").open("w") as f:
        for n, action in enumerate(MUTATIONS):
            line = {"timestamp": f"2026-11-22T10:00:{n:02d}.000Z", "action": action, "ip": "127.0.0.1",
                    "user": "admin", "id": None, "payload": {}, "success": n % 2 == 0}  # fmt: skip
            f.write(json.dumps(line) + "\n")
    for n, action in enumerate(MUTATIONS):
        done = spark_here("audit", "--action", action, "--json")
        assert done.returncode == 0, (action, done.stderr)
        (line,) = [json.loads(x) for x in done.stdout.splitlines()]
        assert line["action"] == action and line["timestamp"].endswith(f":{n:02d}.000Z")
    failed = spark_here("audit", "--action", "change.reject", "--failed")  # odd positions failed
    assert failed.returncode == 0 and "change.reject" in failed.stdout and "FAILED" in failed.stdout
