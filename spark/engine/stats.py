"""Performance statistics from the close-marked equity curve (one compiled pass) and the trade table (numpy).

Every formula is written down in the README ("Engine semantics and statistics"). Values are plain Python
numbers, JSON-safe: a figure that is undefined for a run (a ratio over zero, a rate with no closed trade) is None,
never NaN or infinity.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spark.engine.candles import Candles
from spark.engine.curve import equity_pass
from spark.engine.options import Options, periods_per_year_for

__all__ = ["annualisation", "compute_stats", "drawdown"]

_YEAR_MS = 365 * 86_400_000
_RISK_FREE = "; risk-free rate 0"


def annualisation(candles: Candles, options: Options) -> tuple[float | None, str]:
    """Periods per year and the basis it came from: the option, the timeframe (24x7), or the median bar spacing."""
    if options.periods_per_year is not None:
        ppy = float(options.periods_per_year)
        return ppy, f"given: {ppy:g} periods/year{_RISK_FREE}"
    ppy = periods_per_year_for(candles.timeframe)
    if ppy is not None:
        return ppy, f"24x7 from timeframe {candles.timeframe.strip()}: {ppy:g} periods/year{_RISK_FREE}"
    spacing = candles.median_spacing
    if spacing is not None:
        ppy = _YEAR_MS / spacing
        return ppy, f"24x7 from median bar spacing {spacing:g} ms: {ppy:g} periods/year{_RISK_FREE}"
    return None, "unknown: a single bar and no timeframe; annualised figures are undefined"


def drawdown(equity: np.ndarray, cash: float, timestamp: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """Per-bar drawdown in percent below the running peak (the starting cash counts as the first peak), the
    largest one, and the longest time under water (bars, ms)."""
    dd, max_dd, bars, start, end, *_ = equity_pass(equity, cash)
    return dd, max_dd, bars, _span(timestamp, start, end)


def _span(timestamp: np.ndarray, start: int, end: int) -> int:
    return 0 if end < 0 else int(timestamp[end] - timestamp[max(start, 0)])


def compute_stats(
    *,
    equity: np.ndarray,
    trades: np.ndarray,
    fills: np.ndarray,
    rejected: int,
    exposed_bars: int,
    candles: Candles,
    options: Options,
) -> tuple[dict[str, Any], np.ndarray]:
    """The stats dict (snake_case keys, in a fixed order) and the per-bar drawdown in percent."""
    cash = float(options.cash)
    n = len(equity)
    final = float(equity[-1])
    dd, max_dd, dd_bars, dd_start, dd_end, mean, m2, down2, positive = equity_pass(equity, cash)
    dd_ms = _span(candles.timestamp, dd_start, dd_end)
    ppy, basis = annualisation(candles, options)

    is_open = trades[:, 9] == 1.0
    closed = trades[~is_open]
    pnl = closed[:, 7]
    n_closed = len(closed)
    gross_win = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    notional = closed[:, 2] * closed[:, 5]

    sharpe = sortino = cagr = None
    if ppy is not None and positive:
        std = math.sqrt(m2 / (n - 1)) if n >= 2 else 0.0
        sharpe = mean / std * math.sqrt(ppy) if std > 0 else None
        downside = math.sqrt(down2 / n)
        sortino = mean / downside * math.sqrt(ppy) if downside > 0 else None
        try:
            cagr = ((final / cash) ** (ppy / n) - 1.0) * 100.0
        except OverflowError:  # a short, steep run annualised: too large to state
            cagr = None
    first_close = float(candles.close[0])
    stats: dict[str, Any] = {
        "final_equity": final,
        "pnl": final - cash,
        "return_pct": (final - cash) / cash * 100.0,
        "total_trades": len(trades),
        "open_trades": int(is_open.sum()),
        "closed_trades": n_closed,
        "win_rate": int((pnl > 0).sum()) / n_closed if n_closed else None,
        "avg_pnl": float(pnl.mean()) if n_closed else None,
        "max_drawdown_pct": max_dd,
        "max_drawdown_duration_bars": dd_bars,
        "max_drawdown_duration_ms": dd_ms,
        "profit_factor": gross_win / gross_loss if gross_loss > 0 else None,
        "expectancy": float((pnl / notional).mean()) if n_closed and bool((notional > 0).all()) else None,
        "sharpe": sharpe,
        "sortino": sortino,
        "cagr_pct": cagr,
        "calmar": cagr / max_dd if cagr is not None and max_dd > 0 else None,
        "exposure_pct": exposed_bars / n * 100.0,
        "fees_paid": float(fills[:, 4].sum()),
        "buy_and_hold_return_pct": (float(candles.close[-1]) / first_close - 1.0) * 100.0 if first_close > 0 else None,
        "rejected_orders": int(rejected),
        "periods_per_year": ppy,
        "annualisation": basis,
    }
    return {k: _safe(v) for k, v in stats.items()}, dd


def _safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
