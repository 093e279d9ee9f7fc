"""``spark backtest`` as users run it: real processes for the golden run, in-process main() for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spark.cli import main

DATA = Path(__file__).parents[1] / "data"
GOLDEN = [
    "--strategy",
    "sma_cross",
    "--param",
    "fast=10",
    "--param",
    "slow=30",
    "--cash",
    "10000",
    "--fee",
    "0.001",
    "--size",
    "1",
    "--fill",
    "next_open",
]


def spark(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
    return subprocess.run(
        [sys.executable, "-m", "spark.cli", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def evidence_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_goog_reference_figures_through_the_cli_with_evidence(tmp_path: Path) -> None:
    out = spark(
        "backtest", "--data", str(DATA / "GOOG.csv"), *GOLDEN, "--json", "--csv", "--evidence-dir", "ev", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    doc = json.loads(out.stdout)
    stats = doc["report"]["stats"]
    assert stats["finalEquity"] == pytest.approx(10743.008410, abs=1e-6)
    assert stats["maxDrawdownPct"] == pytest.approx(1.932090, abs=1e-6)
    assert (stats["totalTrades"], stats["openTrades"]) == (33, 1)
    run_id = doc["id"]
    folder = tmp_path / "ev" / "backtest"
    assert evidence_files(tmp_path / "ev") == sorted(
        [
            f"{run_id}.json",
            f"run_{run_id}.json",
            f"{run_id}_trades.csv",
            f"{run_id}_equity.csv",
            f"{run_id}.summary.json",
            f"{run_id}.trades.npy",
            f"{run_id}.series.npz",
        ]
    )
    assert json.loads((folder / f"{run_id}.json").read_text()) == doc
    record = json.loads((folder / f"run_{run_id}.json").read_text())["runs"][0]
    assert record["id"] == run_id and record["status"] == "done" and record["strategy"] == "sma_cross"
    assert record["params"] == {"fast": 10, "slow": 30} and record["feed"]["name"] == "csv"
    assert record["stats"]["finalEquity"] == stats["finalEquity"] and record["startedAt"] <= record["finishedAt"]
    trades = (folder / f"{run_id}_trades.csv").read_text().splitlines()
    assert len(trades) == 34 and trades[-1].endswith(",true")  # header, 32 closed, 1 open
    assert len((folder / f"{run_id}_equity.csv").read_text().splitlines()) == 2149


def test_csv_files_only_with_csv_and_no_files_with_no_evidence(tmp_path: Path) -> None:
    plain = spark("backtest", "--json", "--evidence-dir", "ev", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    run_id = json.loads(plain.stdout)["id"]
    assert not [name for name in evidence_files(tmp_path / "ev") if name.endswith(".csv")]
    assert f"{run_id}.series.npz" in evidence_files(tmp_path / "ev")
    none = spark("backtest", "--no-evidence", "--evidence-dir", "nothing", cwd=tmp_path)
    assert none.returncode == 0 and "none written (--no-evidence)" in none.stdout
    assert not (tmp_path / "nothing").exists()


def test_make_run_default_report_on_the_terminal(tmp_path: Path) -> None:
    out = spark("backtest", "--data", "default", "--strategy", "sma_cross", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for expected in (
        "Spark backtest bt-",
        "GOOG 1d, 2148 bars",
        "final_equity",
        "max_drawdown_pct",
        "Trades: 33 (32 closed, 1 open)",
        "fingerprint",
        "orders hash",
    ):
        assert expected in text
    line = next(x for x in text.splitlines() if x.startswith("evidence "))
    evidence = tmp_path / line.split()[1]
    assert evidence.parent == tmp_path / "evidence" / "backtest" and evidence.is_file()


def test_evidence_dir_comes_from_the_environment(tmp_path: Path) -> None:
    out = spark(
        "backtest",
        "--data",
        "synthetic",
        "--feed-arg",
        "bars=500",
        "--strategy",
        "rsi_reversion",
        "--json",
        cwd=tmp_path,
        env={"SPARK_EVIDENCE_DIR": str(tmp_path / "env-ev")},
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["metadata"]["candleCount"] == 500 and doc["metadata"]["strategy"]["name"] == "rsi_reversion"
    assert (tmp_path / "env-ev" / "backtest" / f"{doc['id']}.json").is_file()
    assert not (tmp_path / "evidence").exists()


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("SPARK_")]:
        monkeypatch.delenv(key)
    return tmp_path


def write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--param", "fast=40"], "params.fast (40) must be less than params.slow (30)"),
        (["--param", "fast=x"], "params.fast must be an integer"),
        (["--param", "fast"], "--param expects NAME=VALUE"),
        (["--param", "fast=5", "--param", "fast=6"], "--param fast given twice"),
        (["--param", "speed=1"], "unknown parameter params.speed"),
        (["--data", "missing.csv"], "missing.csv: no such file"),
        (["--data", "synthetic", "--feed-arg", "bars=0"], "feed.args.bars must be >= 1"),
        (["--data", "synthetic", "--feed-arg", "bars=5000001"], "feed.args.bars must be <= 5e+06"),
        (["--data", "synthetic", "--feed-arg", "timeframe=4x"], "feed.args.timeframe must be a number and a unit"),
        (["--data", "default", "--feed-arg", "x=1"], "unknown parameter feed.args.x"),
        (["--data", "f.csv", "--feed-arg", "path=g.csv"], "give the CSV file with --data"),
        (["--fee", "-0.1"], "fee must be >= 0"),
        (["--fee", "abc"], "argument --fee: invalid float value"),
        (["--fee", "nan"], "fee must be a finite number"),
        (["--cash", "0"], "cash must be > 0"),
        (["--slippage-bps", "20000"], "slippage_bps must be <= 10000"),
        (["--size", "-1"], "size must be > 0"),
        (["--size-pct", "2"], "size_pct must be <= 1"),
        (["--size", "1", "--size-pct", "0.5"], "not allowed with argument --size"),
        (["--fill", "vwap"], "argument --fill: invalid choice"),
        (["--periods-per-year", "0"], "periods_per_year must be > 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_non_zero_and_writes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    code, out, err = run_main(["backtest", *args, "--evidence-dir", "ev"], capsys)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("spark"), err
    assert message in err
    assert evidence_files(workdir / "ev") == [] and evidence_files(workdir / "evidence") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,c\n1,2,3\n", "bad.csv line 1: unsupported header"),
        (
            ",Open,High,Low,Close,Volume\n2020-01-01,1,1,1,1,1\n2020-01-02,1,1,x,1,1\n",
            "bad.csv line 3: 'x' is not a number",
        ),
        (
            ",Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,1\n2020-01-01,1,1,1,1,1\n",
            "bad.csv line 3: time not strictly",
        ),
        ("", "bad.csv: empty file"),
        ("timestamp,open,high,low,close,volume\n1509836520000,1,nan,1,1,1\n", "bad.csv line 2: NaN"),
    ],
)
def test_bad_csv_files_are_refused_naming_the_line(
    workdir: Path, capsys: pytest.CaptureFixture, text: str, message: str
) -> None:
    code, out, err = run_main(["backtest", "--data", write(workdir, "bad.csv", text)], capsys)
    assert code != 0 and out == "" and message in err and err.count("\n") == 1
    assert evidence_files(workdir / "evidence") == []


def test_a_series_shorter_than_the_warm_up_runs_with_no_trades(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    csv = write(workdir, "short.csv", "timestamp,open,high,low,close,volume\n1509836520000,1,1,1,1,1\n")
    code, out, err = run_main(["backtest", "--data", csv, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["report"]["stats"]["totalTrades"] == 0


def test_unwritable_evidence_dir_is_one_line(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    (workdir / "ev").write_text("a file, not a folder")
    code, _, err = run_main(["backtest", "--evidence-dir", "ev"], capsys)
    assert code != 0 and "cannot write evidence in ev" in err and err.count("\n") == 1


def test_every_builtin_strategy_runs_from_the_cli(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    for name in ("sma_cross", "smaCross", "rsi_reversion", "bollinger_breakout", "buy_and_hold"):
        code, out, err = run_main(["backtest", "--strategy", name, "--fee", "0.001", "--json"], capsys)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["metadata"]["strategy"]["name"] == name.replace("smaCross", "sma_cross")
        assert doc["report"]["stats"]["totalTrades"] >= 1
    assert len(list((workdir / "evidence" / "backtest").glob("run_*.json"))) == 5
