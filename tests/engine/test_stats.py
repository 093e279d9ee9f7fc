"""Each stats formula against values computed by hand on small series."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from spark.engine import Options
from spark.engine.kernel import TRADE_COLS
from spark.engine.stats import annualisation, compute_stats, drawdown

from .helpers import bars

DAY = 86_400_000


def trade_rows(*rows: tuple[float, float, float, float]) -> np.ndarray:
    """(qty, entry_price, pnl, open) -> kernel trade rows."""
    out = np.zeros((len(rows), TRADE_COLS))
    for i, (qty, entry, pnl, is_open) in enumerate(rows):
        out[i, [0, 1, 2, 5, 7, 9]] = (i + 1, 1, qty, entry, pnl, is_open)
    return out


def stats_for(equity, trades=None, fills=None, timeframe="1d", **options):
    n = len(equity)
    candles = bars([(10, 10, 10, 10)] * (n - 1) + [(12, 12, 12, 12)], timeframe=timeframe)
    trades = trade_rows() if trades is None else trades
    fills = np.zeros((0, 8)) if fills is None else fills
    return compute_stats(
        equity=np.array(equity, dtype=float),
        trades=trades,
        fills=fills,
        rejected=2,
        exposed_bars=3,
        candles=candles,
        options=Options(cash=100, **options),
    )


def test_equity_figures() -> None:
    s, dd = stats_for([100, 110, 99, 121])
    assert s["final_equity"] == 121 and s["pnl"] == 21 and s["return_pct"] == pytest.approx(21)
    # peaks 100, 110, 110, 121: only bar 2 is under water, 10 % below 110, for 1 bar (1 day)
    assert dd.tolist() == pytest.approx([0, 0, 10, 0])
    assert s["max_drawdown_pct"] == pytest.approx(10)
    assert (s["max_drawdown_duration_bars"], s["max_drawdown_duration_ms"]) == (1, DAY)
    assert s["exposure_pct"] == 75 and s["rejected_orders"] == 2
    assert s["buy_and_hold_return_pct"] == pytest.approx(20)  # close 10 -> 12


def test_ratios_use_per_bar_returns_including_the_step_from_starting_cash() -> None:
    s, _ = stats_for([100, 110, 99, 121])
    r = [0.0, 0.1, 99 / 110 - 1, 121 / 99 - 1]
    mean = sum(r) / 4
    assert s["sharpe"] == pytest.approx(mean / statistics.stdev(r) * math.sqrt(365))
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / 4)
    assert s["sortino"] == pytest.approx(mean / downside * math.sqrt(365))
    assert s["cagr_pct"] == pytest.approx((1.21 ** (365 / 4) - 1) * 100)
    assert s["calmar"] == pytest.approx(s["cagr_pct"] / 10)
    assert s["periods_per_year"] == 365
    assert s["annualisation"] == "24x7 from timeframe 1d: 365 periods/year; risk-free rate 0"


def test_undefined_figures_are_none_never_nan() -> None:
    s, _ = stats_for([100, 100, 100])
    assert s["sharpe"] is None and s["sortino"] is None and s["calmar"] is None
    assert s["win_rate"] is None and s["avg_pnl"] is None and s["profit_factor"] is None
    assert s["expectancy"] is None
    assert s["max_drawdown_pct"] == 0 and s["max_drawdown_duration_bars"] == 0
    assert s["cagr_pct"] == 0
    s, _ = stats_for([100, 90, 0, 5])  # equity reaching zero: returns are undefined
    assert s["sharpe"] is None and s["cagr_pct"] is None
    assert s["max_drawdown_pct"] == pytest.approx(100)
    s, _ = stats_for([100, 10_000], timeframe="1m")  # annualised growth beyond a float
    assert s["cagr_pct"] is None and s["calmar"] is None


def test_never_recovered_drawdown_lasts_to_the_end() -> None:
    s, _ = stats_for([100, 120, 90, 95, 100])
    assert s["max_drawdown_pct"] == pytest.approx(25)
    assert (s["max_drawdown_duration_bars"], s["max_drawdown_duration_ms"]) == (3, 3 * DAY)


def test_drawdown_below_the_starting_cash_from_the_first_bar() -> None:
    dd, worst, n_bars, ms = drawdown(np.array([99.0, 98.0, 100.0]), 100.0, np.array([0, 10, 20]))
    assert dd.tolist() == pytest.approx([1, 2, 0]) and worst == pytest.approx(2)
    assert (n_bars, ms) == (2, 10)


def test_trade_figures_over_closed_trades() -> None:
    trades = trade_rows((1, 100, 10, 0), (2, 50, -5, 0), (1, 200, 20, 0), (1, 100, -5, 0), (1, 100, 99, 1))
    fills = np.zeros((3, 8))
    fills[:, 4] = (0.5, 0.25, 0.25)
    s, _ = stats_for([100, 101, 102, 103], trades=trades, fills=fills)
    assert (s["total_trades"], s["open_trades"], s["closed_trades"]) == (5, 1, 4)
    assert s["win_rate"] == 0.5
    assert s["avg_pnl"] == pytest.approx(5)
    assert s["profit_factor"] == pytest.approx(30 / 10)
    assert s["expectancy"] == pytest.approx((0.1 - 0.05 + 0.1 - 0.05) / 4)
    assert s["fees_paid"] == pytest.approx(1.0)


def test_no_losing_trade_means_no_profit_factor() -> None:
    s, _ = stats_for([100, 101], trades=trade_rows((1, 100, 10, 0)))
    assert s["profit_factor"] is None and s["win_rate"] == 1


def test_annualisation_basis() -> None:
    c = bars([(1, 1, 1, 1)] * 3, timeframe="4h")
    assert annualisation(c, Options()) == (2190, "24x7 from timeframe 4h: 2190 periods/year; risk-free rate 0")
    assert annualisation(c, Options(periods_per_year=252))[1] == "given: 252 periods/year; risk-free rate 0"
    c = bars([(1, 1, 1, 1)] * 3, timeframe="")
    ppy, basis = annualisation(c, Options())
    assert ppy == 365 and basis.startswith("24x7 from median bar spacing 8.64e+07 ms: 365 periods/year")
    ppy, basis = annualisation(bars([(1, 1, 1, 1)], timeframe=""), Options())
    assert ppy is None and basis.startswith("unknown")
    s, _ = stats_for([100, 110], timeframe="")
    assert s["periods_per_year"] == 365
