"""When a price level fires within one bar: limit and stop orders, stop-loss and take-profit.

Pure functions of one bar's open, high and low, compiled with numba and called from the fill loop
(`spark.engine.kernel`). A gap through a level fills at the open; otherwise at the level itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["LIMIT", "MARKET", "STOP", "level_fill", "protect_fill"]

MARKET, LIMIT, STOP = 0, 1, 2  # order types

_SIG_LEVEL = "float64(float64, int64, float64, float64, float64, float64)"
_SIG_PROTECT = "Tuple((float64, int64))(float64, float64, float64, float64, float64, float64)"


@njit(_SIG_LEVEL, cache=True, error_model="numpy")
def level_fill(side, typ, level, o, h, lo):
    """Base fill price of a limit/stop order on one bar, or NaN: at the level, or at the open when it gaps through."""
    if (typ == LIMIT) == (side > 0):  # buy limit / sell stop: fills at or below the level
        if o <= level:
            return o
        if lo <= level:
            return level
    else:  # sell limit / buy stop: fills at or above the level
        if o >= level:
            return o
        if h >= level:
            return level
    return np.nan


@njit(_SIG_PROTECT, cache=True, error_model="numpy")
def protect_fill(pos, sl, tp, o, h, lo):
    """Stop-loss / take-profit trigger on one bar: (base price, reason) or (NaN, 0). A gap through either fills at
    the open; otherwise, when the bar's range touches both, the stop is assumed to come first (pessimistic)."""
    has_sl, has_tp = not np.isnan(sl), not np.isnan(tp)
    if pos > 0:
        if has_sl and o <= sl:
            return o, 3
        if has_tp and o >= tp:
            return o, 4
        if has_sl and lo <= sl:
            return sl, 3
        if has_tp and h >= tp:
            return tp, 4
    else:
        if has_sl and o >= sl:
            return o, 3
        if has_tp and o <= tp:
            return o, 4
        if has_sl and h >= sl:
            return sl, 3
        if has_tp and lo <= tp:
            return tp, 4
    return np.nan, 0
