"""Every row of a sweep equals run_backtest for its params (to 1e-9), on real data, through the fast path of
every built-in strategy and through the generic path (a plugin without one: signals and target intents)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import spark
from spark.errors import ParamError

from .conftest import same_stats
from .momentum_plugin import HALF_TARGET, MOMENTUM

CASES = [
    ("sma_cross", {"fast": [3, 5, 10, 20], "slow": "10:50:20"}),
    ("rsi_reversion", {"period": [7, 14], "lower": [25.0, 30.0], "upper": [65.0, 75.0]}),
    ("bollinger_breakout", {"period": [10, 20], "k": [1.5, 2.0, 2.5]}),
    ("buy_and_hold", {}),
]
OPTIONS = [
    {},
    {"fee": 0.001, "slippage_bps": 5.0},
    {"size_pct": 0.5, "fee": 0.002},
    {"fill": "close", "fee": 0.001, "size": 3.0},
]


def check_rows(result: spark.SweepResult, candles: Any, strategy: Any, options: dict, plugins: Any) -> None:
    assert len(result) > 0
    for row in result.rows:
        want = spark.run_backtest(candles, strategy, row["params"], plugins=plugins, **options).report.stats
        bad = same_stats(row["stats"], want)
        assert not bad, (row["params"], bad)


@pytest.mark.parametrize(("strategy", "grid"), CASES)
@pytest.mark.parametrize("options", OPTIONS)
def test_fast_path_rows_equal_run_backtest(strategy: str, grid: dict, options: dict, goog: Any, plugins: Any) -> None:
    spec = plugins.strategy(strategy)
    assert spec.sweep is not None  # every built-in has its fast path
    result = spark.run_sweep(goog, strategy, grid=grid, plugins=plugins, executor="inline", **options)
    check_rows(result, goog, strategy, options, plugins)


@pytest.mark.parametrize(("strategy", "grid"), CASES[:3])
def test_generic_path_rows_equal_run_backtest(strategy: str, grid: dict, eurusd: Any, plugins: Any) -> None:
    spec = dataclasses.replace(plugins.strategy(strategy), sweep=None)
    result = spark.run_sweep(eurusd, spec, grid=grid, executor="inline", fee=0.001)
    check_rows(result, eurusd, spec, {"fee": 0.001}, plugins)


def test_plugin_without_fast_path_signals_and_target(goog: Any, eurusd: Any, plugins: Any) -> None:
    result = spark.run_sweep(eurusd, MOMENTUM, grid={"lookback": "5:60:5"}, executor="inline", fee=0.0005)
    check_rows(result, eurusd, MOMENTUM, {"fee": 0.0005}, plugins)
    result = spark.run_sweep(
        goog, HALF_TARGET, grid={"window": [5, 20], "units": [1.0, 2.5]}, executor="inline", slippage_bps=3.0
    )
    check_rows(result, goog, HALF_TARGET, {"slippage_bps": 3.0}, plugins)


def test_invalid_combinations_are_skipped_and_counted(goog: Any, plugins: Any) -> None:
    result = spark.run_sweep(goog, "sma_cross", grid={"fast": "5:30:5", "slow": "10:30:10"}, plugins=plugins)
    # fast 5..30 (6 values) x slow 10,20,30: fast < slow holds for 1 + 3 + 5 = 9 of 18
    assert len(result) == 9 and result.skipped == 9
    assert all(r["params"]["fast"] < r["params"]["slow"] for r in result.rows)
    assert [r["index"] for r in result.rows] == list(range(9))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"grid": {"nope": [1]}}, "grid.nope"),
        ({"grid": {"fast": "10:5:1"}}, "grid.fast"),
        ({"grid": {"fast": [0]}}, "grid.fast"),
        ({"grid": {"fast": "1:3:0"}}, "grid.fast"),
        ({"grid": {"fast": "1:3:1", "slow": "5:6:1"}, "max_sets": 5}, "grid"),
        ({"grid": {"fast": [5]}, "objective": "nonsense"}, "objective"),
        ({"grid": {"fast": [5]}, "constraints": {"min_nonsense": 1}}, "constraints.min_nonsense"),
        ({"grid": {"fast": [5]}, "fee": -1}, "options.fee"),
        ({"grid": {"fast": [5]}, "leverage": 3}, "options.leverage"),
        ({"space": {"fast": [5, 9]}, "method": "random"}, "trials"),
        ({"grid": {"fast": [5]}, "method": "annealing"}, "method"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict, field: str, goog: Any, plugins: Any) -> None:
    with pytest.raises(ParamError) as err:
        spark.run_sweep(goog, "sma_cross", plugins=plugins, **kwargs)
    assert err.value.field == field, str(err.value)
