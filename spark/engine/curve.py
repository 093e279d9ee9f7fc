"""The equity curve's path-dependent figures in one compiled pass: drawdown, time under water, return moments.

Kept beside the fill kernel's rules: ``cache=True``, no ``fastmath`` (bit-identical run to run),
``error_model="numpy"`` (every division has a guarded, non-zero divisor).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["drawdown_from", "equity_pass"]


@njit(cache=True, error_model="numpy")
def equity_pass(equity, cash):
    """One pass over the close-marked equity: per-bar drawdown (percent below the running peak, the starting cash
    being the first peak), its maximum, the longest run under water (bars, the peak bar before it, its last bar),
    and the per-bar returns' mean, sum of squared deviations from the mean and sum of squared negative returns.
    ``ok`` is False when equity ever reaches zero or below (returns are then undefined).

    The deviations are summed around the first return (shifted sums), which is exact when all returns are equal
    and loses nothing measurable when the mean is small against the spread, as per-bar returns are."""
    n = equity.shape[0]
    dd = np.empty(n)
    peak, prev = cash, cash
    scale = 100.0 / cash
    max_dd = 0.0
    peak_bar, run_bars, run_start, run_end = -1, 0, -1, -1
    shift = equity[0] / cash - 1.0
    s1, s2, down2 = 0.0, 0.0, 0.0
    ok = True
    for t in range(n):
        e = equity[t]
        if e >= peak:
            peak = e
            scale = 100.0 / peak
            peak_bar = t
            dd[t] = 0.0
        else:
            d = (peak - e) * scale
            dd[t] = d
            if d > max_dd:
                max_dd = d
            if t - peak_bar > run_bars:
                run_bars, run_start, run_end = t - peak_bar, peak_bar, t
        if ok:
            r = e / prev - 1.0
            dev = r - shift
            s1 += dev
            s2 += dev * dev
            if r < 0.0:
                down2 += r * r
            if e <= 0.0:
                ok = False
        prev = e
    mean = shift + s1 / n
    m2 = max(s2 - s1 * s1 / n, 0.0)
    return dd, max_dd, run_bars, run_start, run_end, mean, m2, down2, ok


def drawdown_from(equity: np.ndarray, cash: float) -> np.ndarray:
    """Per-bar drawdown (a positive percent below the running peak, the starting cash the first peak), bit for bit
    what `equity_pass` computes: evidence stores the equity only and derives this on read."""
    equity = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate([[float(cash)], equity]))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(equity >= peak, 0.0, (peak - equity) * (100.0 / peak))
