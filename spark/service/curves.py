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

__all__ = ["DEFAULT_POINTS", "MAX_POINTS", "MIN_POINTS", "downsample"]

MIN_POINTS = 5
MAX_POINTS = 4_000
DEFAULT_POINTS = 1_000


def downsample(series: Series, points: int) -> dict[str, Any]:
    """``{"timestamp", "equity", "drawdownPct", "total"}`` with at most ``points`` entries each (``points`` >= 5);
    ``drawdownPct`` is a positive percent, as on every other surface."""
    ts, eq, dd = series.timestamp, series.equity, series.drawdown_pct
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
    return {
        "total": n,
        "timestamp": np.asarray(ts[keep], dtype=np.int64).tolist(),
        "equity": np.asarray(eq[keep], dtype=np.float64).tolist(),
        "drawdownPct": np.asarray(dd[keep], dtype=np.float64).tolist(),
    }
