"""Helpers of the live-session tests: small Spark-layout CSV files with a known shape (the server and polling:
`serverkit`)."""

from __future__ import annotations

import math
from pathlib import Path

from spark.market.replay import HEADER, write_row
from spark.market.source import LiveCandle

__all__ = ["T0", "wave", "write_csv"]

T0 = 1_700_000_000_000  # a minute boundary


def wave(n: int, *, step_ms: int = 60_000, start: int = T0, period: int = 40) -> list[LiveCandle]:
    """``n`` evenly spaced candles on a sine wave: SMA crosses every half period, so sessions trade."""
    rows = []
    prev = 100.0
    for i in range(n):
        close = 100.0 + 10.0 * math.sin(2 * math.pi * i / period) + 0.01 * i
        high, low = max(prev, close) + 0.5, min(prev, close) - 0.5
        rows.append(LiveCandle(ts=start + i * step_ms, open=prev, high=high, low=low, close=close, volume=1.0 + i))
        prev = close
    return rows


def write_csv(path: Path, rows: list[LiveCandle]) -> Path:
    path.write_text(HEADER + "\n" + "".join(write_row(c) for c in rows), encoding="utf-8")
    return path
