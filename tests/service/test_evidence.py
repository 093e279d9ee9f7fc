import json
import os
from pathlib import Path

import pytest

from spark.errors import InputError
from spark.service.evidence import write_json_atomic, write_result, write_run_record, write_text_atomic

RUN = "bt-1763700000000-0123abcd"


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def small_result(run_id: str = RUN):
    """A real engine result on six bars: buy at the open of bar 1, sell at the open of bar 4."""
    import numpy as np

    from spark.engine import Candles, Options, StrategySpec, backtest

    close = np.array([100.0, 101.0, 99.0, 98.0, 103.0, 104.0])
    candles = Candles.from_arrays(
        timestamp=np.arange(6) * 60_000 + 1_700_000_000_000,
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        symbol="X",
        timeframe="1m",
    )

    def fn(params, ctx):
        ctx.signals(np.arange(6) == 0, np.arange(6) == 3)

    return backtest(candles, StrategySpec(name="t", fn=fn), {}, Options(), run_id=run_id, started_at=1)


def test_write_result_uses_the_seed_shape_and_parses(tmp_path: Path) -> None:
    result = small_result()
    path = write_result(tmp_path, result)
    assert path == tmp_path / "backtest" / f"{RUN}.json"
    doc = json.loads(path.read_text())
    assert doc == json.loads(result.to_json()) and set(doc) == {"schemaVersion", "id", "report", "metadata"}
    assert leftovers(path.parent) == [] and oct(path.stat().st_mode & 0o777) == "0o644"


def test_run_record_is_wrapped_in_runs(tmp_path: Path) -> None:
    record = {"id": RUN, "status": "done", "startedAt": 1763700000000}
    path = write_run_record(tmp_path, record)
    assert path.name == f"run_{RUN}.json"
    assert json.loads(path.read_text()) == {"runs": [record]}
    write_run_record(tmp_path, {**record, "status": "failed"})
    assert json.loads(path.read_text())["runs"][0]["status"] == "failed"
    assert leftovers(path.parent) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "bt-1-x", "", None])
def test_ids_are_checked_before_any_path_is_built(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError):
        write_result(tmp_path, small_result(bad))
    with pytest.raises(InputError):
        write_run_record(tmp_path, {"id": bad})
    assert list(tmp_path.iterdir()) == []


def test_only_a_result_is_written_as_one(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="BacktestResult"):
        write_result(tmp_path, {"id": RUN})


def test_a_value_that_cannot_be_serialised_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json_atomic(path, {"v": 1})
    for bad in ({"v": float("nan")}, {"v": object()}):
        with pytest.raises((ValueError, TypeError)):
            write_json_atomic(path, bad)
        assert json.loads(path.read_text()) == {"v": 1}
    assert leftovers(tmp_path) == []


def test_a_failing_rename_removes_the_temp_file_and_keeps_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep").write_text("old")
    with pytest.raises(OSError):
        write_text_atomic(target, "new")  # os.replace cannot put a file over a non-empty folder
    assert (target / "keep").read_text() == "old"
    assert leftovers(tmp_path) == []


def test_rewrites_replace_the_file_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "f.txt"
    write_text_atomic(path, "a" * 100_000)
    inode = path.stat().st_ino
    write_text_atomic(path, "b")
    assert path.read_text() == "b" and path.stat().st_ino != inode  # a new file renamed in, not rewritten in place
    assert sorted(os.listdir(path.parent)) == ["f.txt"]


def test_write_result_also_writes_its_compact_forms(tmp_path: Path) -> None:
    import numpy as np

    from spark.service.evidence import read_series, summary_path

    result = small_result()
    write_result(tmp_path, result)
    summary = json.loads(summary_path(tmp_path, RUN).read_text())
    assert summary == {
        "schemaVersion": 2,
        "id": RUN,
        "report": {"stats": result.summary()},
        "metadata": result.to_dict()["metadata"],
    }
    series = read_series(tmp_path, RUN)
    assert series.timestamp.tolist() == result.report.timestamp.tolist() and series.timestamp.dtype == np.int64
    assert series.equity.tolist() == result.report.equity.tolist()
    assert series.drawdown_pct.tolist() == result.report.drawdown_pct.tolist()  # the engine's, stored once
    assert (series.drawdown_pct >= 0).all() and series.drawdown_pct.max() > 0  # a positive percent
    assert leftovers(tmp_path / "backtest") == []


def test_a_damaged_or_planted_series_file_reads_as_none(tmp_path: Path) -> None:
    from spark.service.evidence import read_series, series_path

    assert read_series(tmp_path, RUN) is None
    series_path(tmp_path, RUN).parent.mkdir(parents=True)
    series_path(tmp_path, RUN).write_bytes(b"\x93NUMPY garbage")
    assert read_series(tmp_path, RUN) is None
    series_path(tmp_path, RUN).unlink()
    write_result(tmp_path / "elsewhere", small_result())
    series_path(tmp_path, RUN).symlink_to(series_path(tmp_path / "elsewhere", RUN))
    assert read_series(tmp_path, RUN) is None  # a symlink is not evidence


def test_remove_result_files_takes_back_a_runs_result_but_never_its_record(tmp_path: Path) -> None:
    from spark.service.evidence import remove_result_files, write_artifacts

    result = small_result()
    write_result(tmp_path, result)
    write_artifacts(tmp_path, result)
    write_run_record(tmp_path, {"id": RUN, "status": "failed"})
    (tmp_path / "backtest" / f".{RUN}.json.x1y2.tmp").write_text("torn")
    removed = remove_result_files(tmp_path, RUN)
    assert len(removed) == 7  # result, summary, series, trade table, two CSVs, the temp file
    assert sorted(p.name for p in (tmp_path / "backtest").iterdir()) == [f"run_{RUN}.json"]


def test_the_trade_table_and_the_rendered_csvs_match_the_engines_bytes(tmp_path: Path) -> None:
    """The service renders the CSVs from the columnar evidence when they are downloaded: byte for byte what the
    engine (and `spark backtest --csv`) writes."""
    from spark.engine import equity_csv, trades_csv
    from spark.service.evidence import TRADE_COLUMNS, equity_csv_lines, read_series, read_trades, trades_csv_lines

    result = small_result()
    write_result(tmp_path, result)
    rows = read_trades(tmp_path, RUN)
    assert rows.shape == (len(result.report.trades), len(TRADE_COLUMNS))
    trade = dict(zip(TRADE_COLUMNS, rows[0].tolist(), strict=True))
    first = result.report.trades[0]
    assert (trade["side"], trade["entry_ts"], trade["entry_price"]) == (1.0, first.entry_ts, first.entry_price)
    assert trade["exit_ts"] == first.exit_ts and trade["pnl"] == first.pnl and trade["open"] == 0.0
    assert "".join(trades_csv_lines(rows)) == trades_csv(result)
    assert "".join(equity_csv_lines(read_series(tmp_path, RUN), chunk=2)) == equity_csv(result)


def test_the_series_file_is_compact_and_keeps_irregular_times_exact(tmp_path: Path) -> None:
    import numpy as np

    from spark.engine import Candles, Options, StrategySpec, backtest
    from spark.service.evidence import read_series, series_path

    n = 100_000
    ts = 1_700_000_000_000 + np.cumsum(np.where(np.arange(n) % 7 == 0, 3 * 86_400_000, 60_000))  # gaps
    close = 100 + np.sin(np.arange(n) / 50)
    candles = Candles.from_arrays(timestamp=ts, open=close, high=close + 1, low=close - 1, close=close)
    spec = StrategySpec(name="t", fn=lambda p, ctx: ctx.signals(np.arange(n) % 500 == 0, np.arange(n) % 500 == 250))
    result = backtest(candles, spec, {}, Options(cash=1_000.0), run_id=RUN, started_at=1)
    write_result(tmp_path, result)
    assert series_path(tmp_path, RUN).stat().st_size < n * 12 + 2_000  # 8 bytes of equity + 4 of time a bar
    series = read_series(tmp_path, RUN)
    assert series.timestamp.tolist() == ts.tolist() and series.equity.tolist() == result.report.equity.tolist()
    assert series.drawdown_pct.tobytes() == result.report.drawdown_pct.tobytes()  # derived, bit for bit
