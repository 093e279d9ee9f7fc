"""``spark live`` in a terminal (a real process): a status line per candle, evidence a backtest reproduces, one
line and exit 2 for bad input with nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import spark
from spark.market import session_store as files
from spark.market.paper import candles_of

from .livekit import wave, write_csv


def spark_live(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPARK_EVIDENCE_DIR": str(cwd / "evidence"), "SPARK_DATA_DIR": str(cwd / "data")}
    return subprocess.run(
        [sys.executable, "-m", "spark.cli", "live", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_session_in_the_terminal(tmp_path: Path) -> None:
    feed = write_csv(tmp_path / "prices.csv", wave(400))
    done = spark_live(
        tmp_path, "--pair", "BTCTRY", "--timeframe", "1m", "--strategy", "sma_cross", "--param", "fast=5",
        "--param", "slow=12", "--exchange", "replay", "--file", str(feed), "--speed", "6000", "--max-candles", "60",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("live session lv-") and "sma_cross" in lines[0]
    assert any(line.startswith("warm-up: 12 candles") for line in lines)
    status = [line for line in lines if " BTCTRY 1m close " in line]
    assert len(status) == 60 and all("equity" in line and "pos" in line for line in status)
    assert any("| buy 1 @" in line for line in status)  # a fill is shown on its candle's line
    assert lines[-1].startswith("session stopped: --max-candles 60 reached; evidence in ")
    [folder] = (tmp_path / "evidence" / "live").iterdir()
    recorded = files.read_candles(tmp_path / "evidence", folder.name)
    assert len(recorded) == 72
    result = spark.run_backtest(candles_of(recorded), strategy="sma_cross", params={"fast": 5, "slow": 12})
    assert files.read_fills(tmp_path / "evidence", folder.name) == [f.to_json() for f in result.report.fills]
    assert files.read_doc(tmp_path / "evidence", folder.name)["status"] == "stopped"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pair", "BTC/TRY", "--timeframe", "1m"], "pair must be"),
        (["--pair", "BTCTRY", "--timeframe", "7x"], "unsupported timeframe"),
        (["--pair", "BTCTRY", "--timeframe", "1m", "--strategy", "nope"], "nope"),
        (["--pair", "BTCTRY", "--timeframe", "1m", "--param", "fast=50"], "fast"),
        (["--pair", "BTCTRY", "--timeframe", "1m", "--exchange", "nasdaq"], "unknown exchange"),
        (["--pair", "ETHTRY", "--timeframe", "1m", "--exchange", "replay"], "no replay file"),
        (["--pair", "BTCTRY", "--timeframe", "1m", "--exchange", "replay", "--file", "missing.csv"], "no such file"),
        (["--timeframe", "1m"], "--pair"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "BTCTRY-1m.csv", wave(50))
    done = spark_live(tmp_path, *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert not (tmp_path / "evidence").exists()
