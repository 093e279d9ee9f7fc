"""Equity curves cut down on the server to at most N points without hiding drawdowns.

Plain striding can step over a crash that lasted a few bars. Here the series is split into buckets and each bucket
keeps its lowest equity, its highest equity and its deepest drawdown, in bar order, plus the first and last bars:
the chart's extremes, and the maximum drawdown, survive any N >= 5. Drawdown is the engine's own series (a positive
percent below the running peak, the starting cash counting as the first peak), never recomputed here.

`MAX_POINTS` bounds what one request may ask for: a chart is a few thousand pixels wide, and the work is done in a
worker thread, but a client should not be able to make the server copy a million points for one answer.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from spark.service.evidence import Series

__all__ = ["DEFAULT_POINTS", "MAX_POINTS", "MIN_POINTS", "at_bucket_ends", "buckets", "downsample", "ohlc", "window"]

MIN_POINTS = 5
MAX_POINTS = 4_000
DEFAULT_POINTS = 1_000


def downsample(series: Series, points: int, start_ms: int | None = None, end_ms: int | None = None) -> dict[str, Any]:
    """``{"timestamp", "equity", "drawdownPct", "total"}`` (and ``benchmark``, buy and hold, when the series has
    it) with at most ``points`` entries each (``points`` >= 5), over the bars within ``start_ms..end_ms`` (a zoom;
    None: the whole run). ``drawdownPct`` is a positive percent, as on every other surface."""
    first, last = window(series.timestamp, start_ms, end_ms)
    ts, eq, dd = series.timestamp[first:last], series.equity[first:last], series.drawdown_pct[first:last]
    n = len(eq)
    if n <= points:
        keep = np.arange(n)
    else:
        buckets = max(1, (points - 2) // 3)
        edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)
        chosen = [0, n - 1]
        for lo, hi in itertools.pairwise(edges):
            if hi <= lo:
                continue
            chosen += [lo + int(np.argmin(eq[lo:hi])), lo + int(np.argmax(eq[lo:hi])), lo + int(np.argmax(dd[lo:hi]))]
        keep = np.unique(np.asarray(chosen, dtype=np.int64))
    doc = {
        "total": n,
        "timestamp": np.asarray(ts[keep], dtype=np.int64).tolist(),
        "equity": np.asarray(eq[keep], dtype=np.float64).tolist(),
        "drawdownPct": np.asarray(dd[keep], dtype=np.float64).tolist(),
    }
    if series.benchmark is not None:
        doc["benchmark"] = np.asarray(series.benchmark[first:last][keep], dtype=np.float64).tolist()
    return doc


def window(timestamp: np.ndarray, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    """The bar range ``[lo, hi)`` whose timestamps lie within ``start_ms..end_ms`` (both inclusive; None: open)."""
    lo = 0 if start_ms is None else int(np.searchsorted(timestamp, start_ms, side="left"))
    hi = len(timestamp) if end_ms is None else int(np.searchsorted(timestamp, end_ms, side="right"))
    return lo, max(lo, hi)


def buckets(lo: int, hi: int, points: int) -> np.ndarray:
    """Start indices of at most ``points`` equal buckets over ``[lo, hi)`` (each bar alone when they fit)."""
    if hi - lo <= points:
        return np.arange(lo, hi, dtype=np.int64)
    return np.unique(np.linspace(lo, hi, points, endpoint=False).astype(np.int64))


def ohlc(
    timestamp: np.ndarray,
    columns: dict[str, np.ndarray],
    start_ms: int | None,
    end_ms: int | None,
    points: int,
) -> tuple[dict[str, Any], np.ndarray, int]:
    """Candles of the window cut down to at most ``points`` buckets that keep each bucket's first open, highest
    high, lowest low, last close and total volume (a 1,000,000-bar run still shows its extremes). ``timestamp`` of a
    bucket is its first bar's. Returns the answer, the bucket starts and the window's end (for series drawn on the
    same buckets, `at_bucket_ends`)."""
    lo, hi = window(timestamp, start_ms, end_ms)
    starts = buckets(lo, hi, points)
    if len(starts) == 0:
        empty: dict[str, Any] = {k: [] for k in ("timestamp", "open", "high", "low", "close", "volume")}
        return {**empty, "total": 0}, starts, hi
    ends = np.append(starts[1:], hi)
    rel = starts - lo
    doc = {
        "total": hi - lo,
        "timestamp": timestamp[starts].tolist(),
        "open": columns["open"][starts].tolist(),
        "high": np.maximum.reduceat(columns["high"][lo:hi], rel).tolist(),
        "low": np.minimum.reduceat(columns["low"][lo:hi], rel).tolist(),
        "close": columns["close"][ends - 1].tolist(),
        "volume": np.add.reduceat(columns["volume"][lo:hi], rel).tolist(),
    }
    return doc, starts, hi


def at_bucket_ends(values: np.ndarray, starts: np.ndarray, hi: int) -> list[float | None]:
    """A per-bar line (an indicator) on the buckets of `ohlc`: its value at each bucket's last bar, NaN as None."""
    if len(starts) == 0:
        return []
    picked = values[np.append(starts[1:], hi) - 1].astype(np.float64)
    return [None if not np.isfinite(x) else float(x) for x in picked]
