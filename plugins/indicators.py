"""Indicators for the built-in strategies, written so that no value looks ahead.

Every function's value at bar t depends only on bars 0..t, and is computed the same way whatever the series'
length, so the output on the first k bars is exactly (bit for bit) the first k of the output on all bars. Warm-up
bars are NaN; comparisons with NaN are False, so no signal fires before an indicator is defined.
Recursive and windowed loops are compiled with numba (cached on disk), never run per bar in Python.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["crossed_above", "crossed_below", "rolling_std", "sma", "smas", "wilder_rsi"]


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over ``n`` bars via a running sum (NaN for the first n-1 bars).

    The running sum adds sequentially, as ``np.cumsum`` does, so a prefix of the series gives a prefix of the
    result exactly, and each value is ``(sum[t] - sum[t-n]) / n`` of those sums.
    """
    return smas(x, n)[0]


def smas(x: np.ndarray, *windows: int) -> list[np.ndarray]:
    """`sma` for several windows in one compiled pass over ``x`` (each bit for bit what `sma` gives alone).

    Only the last ``max(windows) + 1`` running sums are kept (a ring), never a cumulative-sum array the length of
    the series: on a 1,000,000-bar run that is 8 MB less memory to allocate and fault in per call."""
    if any(isinstance(n, bool) or int(n) != n or n < 1 for n in windows):
        raise ValueError(f"SMA windows must be whole numbers of bars >= 1, got {list(windows)}")
    values = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty((len(windows), len(values)))
    _running_means(values, np.array(windows, dtype=np.int64), out)
    return list(out)


@numba.njit(cache=True, nogil=True)
def _running_means(x: np.ndarray, windows: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    n, k = len(x), len(windows)
    widest = windows.max() if k else 0
    size = 1
    while size <= widest:  # a power of two, so a ring index is a mask, not a division
        size *= 2
    ring = np.empty(size)
    mask = size - 1
    acc = 0.0
    warm = min(n, widest)
    for t in range(warm):  # until the widest window is full
        acc += x[t]
        ring[t & mask] = acc
        for j in range(k):
            w = windows[j]
            if t < w - 1:
                out[j, t] = np.nan
            elif t == w - 1:
                out[j, t] = acc / w
            else:
                out[j, t] = (acc - ring[(t - w) & mask]) / w
    for t in range(warm, n):
        acc += x[t]
        ring[t & mask] = acc
        for j in range(k):
            w = windows[j]
            out[j, t] = (acc - ring[(t - w) & mask]) / w


def crossed_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Strict cross up: ``a[t-1] < b[t-1]`` and ``a[t] > b[t]`` (a touch is not a cross); bar 0 never crosses."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"crossed_above needs two series of one length, got shapes {a.shape} and {b.shape}")
    out = np.zeros(len(a), dtype=bool)
    _cross_up(a, b, out)  # one pass, no temporaries: the same comparisons as the numpy expression, NaN never crossing
    return out


@numba.njit(cache=True, nogil=True)
def _cross_up(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    for t in range(1, len(a)):
        out[t] = a[t - 1] < b[t - 1] and a[t] > b[t]


def crossed_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Strict cross down: ``a[t-1] > b[t-1]`` and ``a[t] < b[t]``."""
    return crossed_above(b, a)


@numba.njit(cache=True, nogil=True)
def _wilder(gains: np.ndarray, losses: np.ndarray, period: int) -> np.ndarray:  # pragma: no cover (compiled)
    n = len(gains) + 1
    out = np.full(n, np.nan)
    if n <= period:
        return out
    avg_gain = gains[:period].sum() / period
    avg_loss = losses[:period].sum() / period
    for t in range(period, n):
        if t > period:
            avg_gain = (avg_gain * (period - 1) + gains[t - 1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[t - 1]) / period
        if avg_loss == 0.0:
            out[t] = 50.0 if avg_gain == 0.0 else 100.0
        else:
            out[t] = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


def wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI: the first average is the mean of the first ``period`` changes, then
    ``avg = (avg * (period - 1) + change) / period``. Defined from bar ``period``; 100 when there were only gains,
    50 when the price did not move at all."""
    diff = np.diff(np.asarray(close, dtype=np.float64))
    return _wilder(np.maximum(diff, 0.0), np.maximum(-diff, 0.0), int(period))


@numba.njit(cache=True, nogil=True)
def _rolling_std(x: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover (compiled)
    out = np.full(len(x), np.nan)
    for t in range(n - 1, len(x)):
        mean = 0.0
        for j in range(t - n + 1, t + 1):
            mean += x[j]
        mean /= n
        acc = 0.0
        for j in range(t - n + 1, t + 1):
            acc += (x[j] - mean) ** 2
        out[t] = np.sqrt(acc / n)
    return out


def rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation over the last ``n`` bars, two passes per window (no cancellation error on
    large prices, unlike a running sum of squares). O(len(x) * n), compiled."""
    return _rolling_std(np.asarray(x, dtype=np.float64), int(n))
