"""Equity curves cut down on the server: extremes and the deepest drawdown survive, drawdown stays positive."""

from __future__ import annotations

import numpy as np
import pytest

from spark.service.curves import downsample
from spark.service.evidence import Series


def series(equity: list[float], cash: float) -> Series:
    """A series as the engine makes it: drawdown below the running peak, the starting cash the first peak."""
    eq = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate([[cash], eq]))[1:]
    return Series(timestamp=np.arange(len(eq), dtype=np.int64), equity=eq, drawdown_pct=(1 - eq / peak) * 100)


def test_downsample_keeps_extremes_and_the_worst_drawdown() -> None:
    n = 100_000
    equity = [10_000.0 + (i % 1000) for i in range(n)]
    equity[54_321] = 12_345.0  # a one-bar spike
    equity[77_777] = 5_000.0  # a one-bar crash: the worst drawdown
    out = downsample(series(equity, 10_000.0), 20)
    assert len(out["equity"]) <= 20 and out["total"] == n
    assert max(out["equity"]) == 12_345.0 and min(out["equity"]) == 5_000.0
    assert max(out["drawdownPct"]) == pytest.approx((1 - 5_000.0 / 12_345.0) * 100)
    assert min(out["drawdownPct"]) >= 0  # a positive percent, as on every other surface
    assert out["timestamp"][0] == 0 and out["timestamp"][-1] == n - 1
    assert out["timestamp"] == sorted(out["timestamp"])


def test_short_and_empty_series_are_returned_whole() -> None:
    small = downsample(series([1.0, 2.0, 1.5], 1.0), 5)
    assert small["equity"] == [1.0, 2.0, 1.5] and small["drawdownPct"] == pytest.approx([0.0, 0.0, 25.0])
    assert downsample(series([], 1.0), 5) == {"total": 0, "timestamp": [], "equity": [], "drawdownPct": []}


def test_the_drawdown_is_the_series_own_not_recomputed() -> None:
    """The engine's drawdown counts the starting cash as the first peak: a curve that opens below its cash is
    already in drawdown, which a peak of the curve alone would miss."""
    out = downsample(series([90.0, 95.0, 100.0], 100.0), 5)
    assert out["drawdownPct"] == pytest.approx([10.0, 5.0, 0.0])


def test_ohlc_buckets_keep_open_high_low_close_and_volume() -> None:
    from spark.service.curves import at_bucket_ends, ohlc

    n = 1_000
    ts = np.arange(n, dtype=np.int64) * 60_000
    close = 100 + np.sin(np.arange(n) / 10)
    cols = {"open": close - 0.1, "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n)}
    cols["high"][437] = 500.0  # a spike inside a bucket
    cols["low"][901] = 1.0  # a crash
    doc, starts, hi = ohlc(ts, cols, None, None, 10)
    assert doc["total"] == n and len(doc["open"]) == 10 and doc["timestamp"] == ts[::100].tolist()
    assert max(doc["high"]) == 500.0 and min(doc["low"]) == 1.0
    assert doc["open"][0] == cols["open"][0] and doc["close"][-1] == cols["close"][-1]
    assert sum(doc["volume"]) == n
    line = np.where(np.arange(n) < 50, np.nan, np.arange(n, dtype=float))
    assert at_bucket_ends(line, starts, hi)[:2] == [99.0, 199.0]
    zoom, zstarts, zhi = ohlc(ts, cols, ts[430], ts[440], 4000)  # a window at full resolution
    assert zoom["total"] == 11 and zoom["high"][7] == 500.0 and zoom["timestamp"][0] == ts[430]
    assert at_bucket_ends(np.full(n, np.nan), zstarts, zhi) == [None] * 11


def test_equity_downsampling_follows_a_window_and_carries_the_benchmark() -> None:
    eq = np.linspace(100.0, 200.0, 1000)
    s = Series(
        timestamp=np.arange(1000, dtype=np.int64),
        equity=eq,
        drawdown_pct=np.zeros(1000),
        benchmark=eq / 2,
    )
    out = downsample(s, 50, 100, 199)
    assert out["total"] == 100 and out["timestamp"][0] == 100 and out["timestamp"][-1] == 199
    assert out["benchmark"] == pytest.approx([e / 2 for e in out["equity"]])
