"""A sweep with risk gates takes the generic path (docs/risk-gates.md): every row equals run_backtest with the
same gates, for strategies with a fast path too, and the gates change the rows (the case is not vacuous)."""

from __future__ import annotations

from typing import Any

import pytest

import spark

from .conftest import same_stats

GATES = {"maxPositionNotional": 4000, "maxDrawdownPct": 3, "cooldownBars": 2}
GATE_STATS = ("denied_orders", "logged_violations")  # a run's own; the sweep table has no columns for them


@pytest.mark.parametrize(
    ("strategy", "grid"),
    [("sma_cross", {"fast": [5, 10], "slow": [20, 30]}), ("rsi_reversion", {"period": [7, 14]})],
)
def test_gated_sweep_rows_equal_gated_runs(strategy: str, grid: dict, goog: Any, plugins: Any) -> None:
    options = {"size": 10.0, "fee": 0.001, "gates": GATES}
    gated = spark.run_sweep(goog, strategy, grid=grid, plugins=plugins, executor="inline", **options)
    plain = spark.run_sweep(goog, strategy, grid=grid, plugins=plugins, executor="inline", size=10.0, fee=0.001)
    denied = 0
    for row in gated.rows:
        run = spark.run_backtest(goog, strategy, row["params"], plugins=plugins, **options).report.stats
        denied += run["denied_orders"]
        want = {k: v for k, v in run.items() if k not in GATE_STATS}
        assert not same_stats(row["stats"], want), (row["params"], same_stats(row["stats"], want))
    assert denied > 0
    assert [r["stats"] for r in gated.rows] != [r["stats"] for r in plain.rows]


def test_bad_gates_in_a_sweep_name_the_field(goog: Any, plugins: Any) -> None:
    with pytest.raises(spark.SparkError) as info:
        spark.run_sweep(goog, "sma_cross", grid={"fast": [5]}, plugins=plugins, executor="inline", gates={"x": 1})
    assert info.value.field == "options.gates.x"
