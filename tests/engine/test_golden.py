"""Reference figures on real data (tests/data/README: four independent libraries agree on them)."""

from __future__ import annotations

import pytest

from spark.engine import Options, backtest

from .helpers import RUN, SMA_CROSS, load_csv


def test_goog_sma_cross_matches_the_reference_figures() -> None:
    candles = load_csv("GOOG.csv", timeframe="1d")
    result = backtest(
        candles, SMA_CROSS, {"fast": 10, "slow": 30}, Options(cash=10_000, fee=0.001, size=1, fill="next_open"), **RUN
    )
    stats = result.report.stats
    assert stats["total_trades"] == 33
    assert stats["open_trades"] == 1
    assert stats["closed_trades"] == 32
    assert stats["final_equity"] == pytest.approx(10743.008410, abs=1e-6)
    assert stats["max_drawdown_pct"] == pytest.approx(1.932090, abs=1e-6)
    trades = list(result.report.trades)
    assert len(trades) == 33 and trades[-1].open and not any(t.open for t in trades[:-1])
    assert sum(t.pnl for t in trades) == pytest.approx(stats["pnl"], abs=1e-9)
    assert result.report.equity[-1] == stats["final_equity"]
