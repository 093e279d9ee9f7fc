"""Single runs at the compiled limit: trades as columns (report.trades.array with names), the bar-spacing median
computed once per Candles, and annualisation from it equal to the direct median."""

from __future__ import annotations

from typing import Any

import numpy as np

import spark
from spark.engine.stats import annualisation


def test_trades_read_as_columns(goog: Any, plugins: Any) -> None:
    result = spark.run_backtest(goog, "sma_cross", {"fast": 10, "slow": 30}, fee=0.001, plugins=plugins)
    trades = result.report.trades
    cols = trades.columns()
    assert trades.names[:4] == ("id", "side", "qty", "entry_bar") and set(cols) == set(trades.names)
    assert len(cols["pnl"]) == len(trades) == result.report.stats["total_trades"]
    rows = list(trades)
    assert np.array_equal(cols["pnl"], [t.pnl for t in rows])
    assert np.array_equal(cols["entry_bar"].astype(int), [t.entry_bar for t in rows])
    assert result.report.fills.names[-1] == "trade_id" and result.report.rejected.names[0] == "bar"


def test_the_bar_spacing_median_is_computed_once(goog: Any) -> None:
    untimed = spark.Candles.from_arrays(
        timestamp=goog.timestamp, open=goog.open, high=goog.high, low=goog.low, close=goog.close, volume=goog.volume
    )
    assert "median_spacing" not in untimed.__dict__
    ppy, basis = annualisation(untimed, spark.engine.Options())
    assert untimed.__dict__["median_spacing"] == float(np.median(np.diff(goog.timestamp)))
    assert ppy == 365 * 86_400_000 / untimed.median_spacing and "median bar spacing" in basis
    single = spark.Candles.from_arrays(timestamp=[1], open=[1.0], high=[1.0], low=[1.0], close=[1.0])
    assert single.median_spacing is None and annualisation(single, spark.engine.Options())[0] is None
