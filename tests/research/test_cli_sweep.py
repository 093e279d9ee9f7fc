"""`spark sweep` and `spark walkforward` as real processes: the ranked table, JSON, the best set written as a
normal run, the progress bar on a terminal only, resume, and bad input as one line with exit 2."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spark.research.evidence import read_sweep, sweep_folder

GRID = ["--grid", "fast=5:20:5", "--grid", "slow=20:60:20"]


def spark_cli(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
    env["SPARK_EVIDENCE_DIR"] = str(cwd / "evidence")
    return subprocess.run(
        [sys.executable, "-m", "spark.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def test_sweep_prints_a_ranked_table_and_writes_the_best_run(tmp_path: Path) -> None:
    out = spark_cli(["sweep", *GRID, "--constraint", "min_trades=5", "--top", "3", "--fee", "0.001"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # piped: no progress bar
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Spark sweep sw-") and "11 sets (1 skipped)" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "index"])
    ranks = [line.split()[0] for line in lines[header + 1 : header + 4]]
    assert ranks == ["1", "2", "3"]
    run_ids = [p.name for p in (tmp_path / "evidence" / "backtest").glob("run_bt-*.json")]
    assert len(run_ids) == 1 and "best set" in out.stdout and run_ids[0][4:-5] in out.stdout
    sweep_id = lines[0].split()[2].rstrip(":")
    doc, table = read_sweep(sweep_folder(tmp_path / "evidence", sweep_id))
    assert doc["status"] == "done" and len(table) == 11


def test_sweep_json_and_random_and_tpe(tmp_path: Path) -> None:
    out = spark_cli(["sweep", *GRID, "--json", "--no-evidence", "--top", "2"], tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["total"] == 11 and len(doc["top"]) == 2 and doc["bestRun"] is None
    assert not (tmp_path / "evidence").exists()
    rnd = spark_cli(
        [
            "sweep",
            "--random",
            "15",
            "--grid",
            "fast=2:30",
            "--grid",
            "slow=20:120",
            "--json",
            "--no-evidence",
            "--seed",
            "4",
        ],
        tmp_path,
    )
    assert rnd.returncode == 0, rnd.stderr
    assert json.loads(rnd.stdout)["method"] == "random"
    tpe = spark_cli(
        ["sweep", "--tpe", "12", "--batch-size", "4", "--grid", "fast=2:30", "--grid", "slow=20:120", "--json"],
        tmp_path,
    )
    assert tpe.returncode == 0, tpe.stderr
    sweep_id = json.loads(tpe.stdout)["id"]
    assert (sweep_folder(tmp_path / "evidence", sweep_id) / "optuna.journal").exists()
    again = spark_cli(["sweep", "--resume", sweep_id, "--json"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["id"] == sweep_id and json.loads(again.stdout)["method"] == "tpe"


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
        proc = subprocess.run(
            [sys.executable, "-m", "spark.cli", "sweep", *GRID, "--no-evidence"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=300,
        )
        os.close(follower)
        follower = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert proc.returncode == 0
    text = drawn.decode()
    assert "\r" in text and "11/11 sets" in text and "sets/s" in text and "left" in text


def test_walkforward_prints_folds_and_the_out_of_sample_line(tmp_path: Path) -> None:
    out = spark_cli(["walkforward", *GRID, "--folds", "3", "--size", "10"], tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Spark walk-forward wf-") and "3 folds" in lines[0] and "purge 60" in lines[0]
    assert [line.split()[0] for line in lines[3:6]] == ["1", "2", "3"]
    assert any(line.startswith("out of sample:") and "deflated sharpe" in line for line in lines)
    wf_id = lines[0].split()[2].rstrip(":")
    doc, _ = read_sweep(sweep_folder(tmp_path / "evidence", wf_id))
    assert doc["kind"] == "walkforward" and doc["result"]["final"]["params"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sweep", "--grid", "fast=9:1:1"], "grid.fast"),
        (["sweep", "--grid", "nope=1:3:1"], "no parameter"),
        (["sweep", "--grid", "fast"], "NAME=VALUE"),
        (["sweep", *GRID, "--objective", "luck"], "unknown stat"),
        (["sweep", *GRID, "--constraint", "min_trades=lots"], "not a number"),
        (["sweep", *GRID, "--random", "5", "--tpe", "5"], "not both"),
        (["sweep", *GRID, "--workers", "0"], "--workers"),
        (["sweep", "--resume", "sw-1700000000000-00000000"], "no sweep"),
        (["sweep", "--resume", "../../etc"], "not a sweep id"),
        (["sweep", *GRID, "--executor", "cloud"], "invalid choice"),
        (["walkforward", *GRID, "--folds", "50"], "fold"),
        (["walkforward", *GRID, "--purge-bars", "soon"], "--purge-bars"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: str, tmp_path: Path) -> None:
    out = spark_cli(args, tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert len(out.stderr.strip().splitlines()) == 1 and words in out.stderr, out.stderr
    assert not (tmp_path / "evidence" / "sweeps").exists() or not any((tmp_path / "evidence" / "sweeps").iterdir())


def test_sweep_with_gates_applies_them_and_resume_keeps_them(tmp_path: Path) -> None:
    import spark

    gated = ["--gate", "maxDrawdownPct=2", "--gate", "maxPositionNotional=5000:log", "--size-pct", "1"]
    out = spark_cli(["sweep", *GRID, *gated, "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    candles = spark.load_candles(Path(spark.__file__).parents[1] / "plugins" / "data" / "GOOG.csv")
    top = doc["top"][0]
    want = spark.run_backtest(candles, "sma_cross", top["params"], size_pct=1, gates={
        "maxDrawdownPct": 2, "maxPositionNotional": {"value": 5000, "onViolation": "log"}}).report.stats  # fmt: skip
    assert want["denied_orders"] > 0  # the case is not vacuous
    assert top["stats"]["deniedOrders"] == want["denied_orders"]
    assert top["stats"]["sharpe"] == want["sharpe"]
    saved, _ = read_sweep(sweep_folder(tmp_path / "evidence", doc["id"]))
    assert set(saved["spec"]["options"]["gates"]) == {"maxDrawdownPct", "maxPositionNotional"}
    again = spark_cli(["sweep", "--resume", doc["id"], "--json"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["top"][0]["stats"]["deniedOrders"] == want["denied_orders"]
    bad = spark_cli(["sweep", *GRID, "--gate", "maxLeverage=2"], tmp_path)
    assert bad.returncode == 2 and "maxLeverage" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
