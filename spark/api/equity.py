"""Equity curves cut down on the server to at most N points without hiding drawdowns.

Plain striding can step over a crash that lasted a few bars. Here the series is split into buckets and each bucket
keeps its lowest equity, its highest equity and its deepest drawdown (from the running peak of the whole series), in
bar order, plus the first and last bars: the chart's extremes, and the maximum drawdown, survive any N >= 5.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_POINTS", "MIN_POINTS", "downsample", "equity_series"]

MIN_POINTS = 5
MAX_POINTS = 100_000


def drawdown_pct(equity: np.ndarray) -> np.ndarray:
    """Percent below the running peak at each bar (0 at a new high, negative below it)."""
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, (equity / peak - 1.0) * 100.0, 0.0)
    return dd


def downsample(timestamps: Sequence[int] | np.ndarray, equity: Sequence[float] | np.ndarray,
               points: int) -> dict[str, Any]:
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
    return {"total": n, "timestamp": ts[keep].tolist(), "equity": eq[keep].tolist(),
            "drawdownPct": dd[keep].tolist()}


def equity_series(result: Mapping[str, Any]) -> tuple[list[int], list[float]] | None:
    """The per-bar (timestamps, equity) of a result document, or None when it has no curve.

    Accepts the curve as columns (``equity`` plus ``timestamps``/``timestamp``) or as rows of
    ``{timestamp|t|time, equity|value}`` under ``report`` or at the top level.
    """
    for holder in (result.get("report"), result):
        if not isinstance(holder, Mapping):
            continue
        curve = holder.get("equity")
        if isinstance(curve, Mapping):
            holder, curve = curve, curve.get("equity")
        if not isinstance(curve, list):
            continue
        if curve and isinstance(curve[0], Mapping):
            ts = [_first(row, ("timestamp", "t", "time", "ts")) for row in curve]
            eq = [_first(row, ("equity", "value", "e")) for row in curve]
            return [int(t or 0) for t in ts], [float(e or 0.0) for e in eq]
        times = holder.get("timestamps", holder.get("timestamp", holder.get("equity_timestamps")))
        if not isinstance(times, list) or len(times) != len(curve):
            times = list(range(len(curve)))
        return [int(t) for t in times], [float(e) for e in curve]
    return None


def _first(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return None
