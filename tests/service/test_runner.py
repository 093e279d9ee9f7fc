"""The Python API (`spark.run_backtest`, `spark.load_candles`) and the worker entry point (`execute`)."""

import json
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import spark
from spark.errors import DataError, ParamError, UnknownPlugin
from spark.ids import is_run_id
from spark.plugin.manager import PluginSet, build_plugins, scan_plugins
from spark.plugin.request import RunRequest
from spark.service.runner import execute, run_backtest

RUN = "bt-1763700000000-0123abcd"
PLUGINS = scan_plugins()


@pytest.fixture(scope="module")
def goog() -> spark.Candles:
    return spark.load_candles(Path(__file__).parent.parent / "data" / "GOOG.csv")


def test_goog_reference_figures_through_the_python_api(goog: spark.Candles) -> None:
    result = spark.run_backtest(
        goog, strategy="sma_cross", params={"fast": 10, "slow": 30}, cash=10_000, fee=0.001, size=1, fill="next_open"
    )
    stats = result.report.stats
    assert stats["final_equity"] == pytest.approx(10743.008410, abs=1e-6)
    assert stats["max_drawdown_pct"] == pytest.approx(1.932090, abs=1e-6)
    assert stats["total_trades"] == 33
    trades = list(result.report.trades)
    assert len(trades) == 33 and [t.open for t in trades].count(True) == 1 and trades[-1].open
    assert len(result.report.equity) == 2148 and result.report.equity[-1] == stats["final_equity"]
    assert result.metadata["symbol"] == "GOOG" and result.metadata["params"] == {"fast": 10, "slow": 30}
    assert is_run_id(result.id)
    doc = json.loads(result.to_json())
    assert doc["id"] == result.id and doc["report"]["stats"]["totalTrades"] == 33


def test_the_contract_names_are_exported() -> None:
    for name in ("load_candles", "run_backtest", "Candles", "BacktestResult"):
        assert name in spark.__all__ and hasattr(spark, name)


def test_alias_defaults_and_same_inputs_same_result(goog: spark.Candles) -> None:
    a = run_backtest(goog, "smaCross", run_id=RUN)
    b = run_backtest(goog, run_id=RUN)
    assert a.metadata["strategy"]["name"] == "sma_cross" and a.metadata["params"] == {"fast": 10, "slow": 30}
    assert a.metadata["fingerprint"] == b.metadata["fingerprint"]
    assert a.metadata["orders_hash"] == b.metadata["orders_hash"]
    assert np.array_equal(a.report.equity, b.report.equity)


def test_a_spec_object_and_size_pct(goog: spark.Candles) -> None:
    spec = build_plugins().strategy("buy_and_hold")
    result = run_backtest(goog, spec, size_pct=0.5, fee=0.001)
    (trade,) = list(result.report.trades)
    assert trade.open and trade.entry_bar == 1
    assert trade.qty * trade.entry_price == pytest.approx(5000, rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"strategy": "nope"}, UnknownPlugin, "strategy"),
        ({"params": {"fast": 50}}, ParamError, "params.fast"),
        ({"params": {"fats": 5}}, ParamError, "params.fats"),
        ({"fee": -1}, ParamError, "fee"),
        ({"size": 1, "size_pct": 0.1}, ParamError, "size_pct"),
        ({"fill": "vwap"}, ParamError, "fill"),
        ({"run_id": "../x"}, spark.SparkError, "id"),
    ],
)
def test_bad_arguments_raise_naming_the_field(goog: spark.Candles, kwargs: dict, error: type, field: str) -> None:
    with pytest.raises(error) as err:
        run_backtest(goog, **kwargs)
    assert err.value.field == field


def test_candles_must_be_candles() -> None:
    with pytest.raises(ParamError, match="spark.load_candles"):
        run_backtest("GOOG.csv")  # type: ignore[arg-type]


def test_run_backtest_takes_a_plugin_manager_to_reuse(goog: spark.Candles) -> None:
    only_feeds = build_plugins(scan_plugins(disabled=["strategies"]))
    with pytest.raises(UnknownPlugin, match="known: none"):
        run_backtest(goog, "sma_cross", plugins=only_feeds)
    assert run_backtest(goog, "sma_cross", plugins=build_plugins(PLUGINS)).report.stats["total_trades"] == 33


def test_execute_runs_a_request_on_a_named_file(data_dir: Path) -> None:
    req = RunRequest.parse(
        {
            "strategy": "smaCross",
            "feed": {"name": "csv", "args": {"path": "GOOG.csv"}},
            "options": {"fee": 0.001, "size": 1},
        },
        build_plugins(PLUGINS),
    )
    doc = execute(req, data_dir=data_dir, plugin_set=PLUGINS, run_id=RUN, started_at=1763700000000).to_dict()
    assert doc["id"] == RUN and doc["metadata"]["startedAt"] == 1763700000000
    assert doc["report"]["stats"]["finalEquity"] == pytest.approx(10743.008410, abs=1e-6)
    json.dumps(doc, allow_nan=False)


def test_the_result_states_how_the_data_was_read(data_dir: Path, tmp_path: Path) -> None:
    rows = [line.split(",") for line in (data_dir / "GOOG.csv").read_text().splitlines()[1:]]
    (tmp_path / "y.csv").write_text(
        "Date;Open;High;Low;Close;Adj Close\n"
        + "".join(f"{d};{o};{h};{lo};{c};{float(c) / 2!r}\n" for d, o, h, lo, c, _ in rows)
    )
    body = {"feed": {"name": "csv", "args": {"path": "y.csv", "adjusted": True}}}
    req = RunRequest.parse(body, build_plugins(PLUGINS))
    doc = execute(req, data_dir=tmp_path, plugin_set=PLUGINS, run_id=RUN, started_at=1763700000000).to_dict()
    assert doc["metadata"]["dataSource"] == {
        "file": "y.csv",
        "format": "yahoo",
        "delimiter": ";",
        "volume": "absent",
        "close": "adj_close",
    }
    assert doc["metadata"]["candleCount"] == len(rows)
    synthetic = execute(
        RunRequest.parse({}, build_plugins(PLUGINS)),
        data_dir=tmp_path,
        plugin_set=PLUGINS,
        run_id=RUN,
        started_at=1763700000000,
    )
    assert synthetic.metadata["data_source"] == {}  # generated, not read: nothing to state


def test_execute_reads_only_inside_the_data_dir(data_dir: Path, tmp_path: Path) -> None:
    req = RunRequest.parse({"feed": {"name": "csv", "args": {"path": "../data/GOOG.csv"}}}, build_plugins(PLUGINS))
    with pytest.raises(ParamError) as err:
        execute(req, data_dir=data_dir, plugin_set=PLUGINS, run_id=RUN, started_at=1763700000000)
    assert err.value.field == "feed.args.path"
    req = RunRequest.parse({"feed": {"name": "csv", "args": {"path": "GOOG.csv"}}}, build_plugins(PLUGINS))
    with pytest.raises(DataError, match="no data file named 'GOOG.csv'"):
        execute(req, data_dir=tmp_path, plugin_set=PLUGINS, run_id=RUN, started_at=1763700000000)


def test_execute_uses_exactly_the_plugin_set_it_is_handed() -> None:
    req = RunRequest.parse({}, build_plugins(PLUGINS))
    disabled = scan_plugins(disabled=["strategies"])
    with pytest.raises(UnknownPlugin, match="unknown strategy 'sma_cross'"):
        execute(req, data_dir=Path("."), plugin_set=disabled, run_id=RUN, started_at=1763700000000)
    feeds_only = PluginSet(entry_points=tuple(ep for ep in PLUGINS.entry_points if ep[0] == "feeds"))
    with pytest.raises(UnknownPlugin, match="unknown strategy 'sma_cross'"):  # installed, but not in the set
        execute(req, data_dir=Path("."), plugin_set=feeds_only, run_id=RUN, started_at=1763700000000)


def execute_doc(req: RunRequest, data_dir: Path) -> dict:
    """What a worker computes, as its document (module level: it crosses into the pool's process)."""
    return execute(req, data_dir=data_dir, plugin_set=PLUGINS, run_id=RUN, started_at=1763700000000).to_dict()


def test_execute_runs_in_a_fresh_worker_process(tmp_path: Path) -> None:
    req = RunRequest.parse({"feed": {"name": "synthetic", "args": {"bars": 2000}}}, build_plugins(PLUGINS))
    assert pickle.loads(pickle.dumps(req)) == req
    ctx = multiprocessing.get_context("spawn")  # nothing inherited: what a service worker sees
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        doc = pool.submit(execute_doc, req, tmp_path).result(timeout=120)
    local = execute_doc(req, tmp_path)
    assert doc == local  # same inputs, same result, in another process
    assert doc["metadata"]["candleCount"] == 2000 and doc["metadata"]["symbol"] == "ETHUSDT"
