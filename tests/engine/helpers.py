"""Shared helpers for engine tests: a tiny CSV reader for the test data, candle builders, local strategies."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from spark.engine import Candles, Options, Param, StrategyContext, StrategySpec

DATA = Path(__file__).parent.parent / "data"
# the fill options a fill-path parity test runs under: costs, both fill modes, both sizings, cash rejections, margin
FILL_OPTIONS = [
    Options(),
    Options(fee=0.001, slippage_bps=7.0),
    Options(fee=0.002, size_pct=0.9, fill="close"),
    Options(fee=0.001, size_pct=1.0, slippage_bps=20.0),  # the cash check rejects some entries
    Options(fee=0.0005, size=20.0, fill="close"),  # more units than the cash can pay for: rejected
    Options(fee=0.0005, size=20.0, margin=True),
]
# the engine makes no ids and reads no clock: callers hand it both
RUN = {"run_id": "bt-1700000000000-00000000", "started_at": 1_700_000_000_000}


def load_csv(name: str, timeframe: str = "") -> Candles:
    """Read one of tests/data's capitalised-header files (date index column); enough for engine tests."""
    with open(DATA / name, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    ts = [int(datetime.fromisoformat(r[0]).replace(tzinfo=UTC).timestamp() * 1000) for r in rows]
    cols = np.array([[float(x) for x in r[1:6]] for r in rows])
    return Candles.from_arrays(
        timestamp=ts,
        open=cols[:, 0],
        high=cols[:, 1],
        low=cols[:, 2],
        close=cols[:, 3],
        volume=cols[:, 4],
        symbol=name.removesuffix(".csv"),
        timeframe=timeframe,
    )


def bars(rows: list[tuple[float, float, float, float]], timeframe: str = "1d") -> Candles:
    """Candles from (open, high, low, close) rows, one day apart from 1 Jan 2024."""
    arr = np.array(rows, dtype=float)
    ts = 1_704_067_200_000 + 86_400_000 * np.arange(len(rows))
    return Candles.from_arrays(
        timestamp=ts, open=arr[:, 0], high=arr[:, 1], low=arr[:, 2], close=arr[:, 3], symbol="TEST", timeframe=timeframe
    )


def sma(x: np.ndarray, k: int) -> np.ndarray:
    """Simple moving average by cumulative sum; NaN for the first k-1 bars."""
    out = np.full(len(x), np.nan)
    c = np.cumsum(np.insert(x, 0, 0.0))
    out[k - 1 :] = (c[k:] - c[:-k]) / k
    return out


def _sma_cross(params, ctx: StrategyContext) -> None:
    close = ctx.candles.close
    fast, slow = sma(close, params["fast"]), sma(close, params["slow"])
    up = np.zeros(len(close), dtype=bool)
    down = np.zeros(len(close), dtype=bool)
    up[1:] = (fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])  # strict: a touch is not a cross
    down[1:] = (fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])
    ctx.signals(up, down)


SMA_CROSS = StrategySpec(
    name="test_sma_cross",
    fn=_sma_cross,
    params=(Param(name="fast", type="int", default=10, min=1), Param(name="slow", type="int", default=30, min=2)),
)


def spec(fn, name: str = "local", params: tuple[Param, ...] = ()) -> StrategySpec:
    return StrategySpec(name=name, fn=fn, params=params)
