"""Equity curves cut down on the server to at most N points without hiding drawdowns.

Plain striding can step over a crash that lasted a few bars. Here the series is split into buckets and each bucket
keeps its lowest equity, its highest equity and its deepest drawdown (from the running peak of the whole series), in
bar order, plus the first and last bars: the chart's extremes, and the maximum drawdown, survive any N >= 5.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_POINTS", "MIN_POINTS", "downsample"]

MIN_POINTS = 5
MAX_POINTS = 100_000


def drawdown_pct(equity: np.ndarray) -> np.ndarray:
    """Percent below the running peak at each bar (0 at a new high, negative below it)."""
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, (equity / peak - 1.0) * 100.0, 0.0)
    return dd


def downsample(
    timestamps: Sequence[int] | np.ndarray, equity: Sequence[float] | np.ndarray, points: int
) -> dict[str, Any]:
    """``{"timestamp", "equity", "drawdownPct", "total"}`` with at most ``points`` entries each (``points`` >= 5)."""
    ts = np.asarray(timestamps, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    n = len(eq)
    dd = drawdown_pct(eq) if n else np.zeros(0)
    if n <= points:
        keep = np.arange(n)
    else:
        buckets = max(1, (points - 2) // 3)
        edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)
        chosen = [0, n - 1]
        for lo, hi in itertools.pairwise(edges):
            if hi <= lo:
                continue
            chosen += [lo + int(np.argmin(eq[lo:hi])), lo + int(np.argmax(eq[lo:hi])), lo + int(np.argmin(dd[lo:hi]))]
        keep = np.unique(np.asarray(chosen, dtype=np.int64))
    return {"total": n, "timestamp": ts[keep].tolist(), "equity": eq[keep].tolist(), "drawdownPct": dd[keep].tolist()}
