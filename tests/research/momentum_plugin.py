"""The README's momentum strategy as a plugin module without a sweep fast path (swept through the generic path),
and a target-position strategy (the generic path's full-kernel branch). Importable by worker processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import spark


def momentum(params: Mapping[str, Any], ctx: spark.StrategyContext) -> None:
    """Long while the close is above its value `lookback` bars ago."""
    close, n = ctx.candles.close, params["lookback"]
    up = np.zeros(len(close), dtype=bool)
    up[n:] = close[n:] > close[:-n]
    ctx.signals(up, ~up)


def _lookback(p: Mapping[str, Any]) -> int:
    return int(p["lookback"])


def half_target(params: Mapping[str, Any], ctx: spark.StrategyContext) -> None:
    """Hold ``units`` while the close is above its SMA over ``window`` bars, else flat."""
    close, n = ctx.candles.close, params["window"]
    c = np.cumsum(close)
    avg = np.full(len(close), np.nan)
    avg[n - 1 :] = (c[n - 1 :] - np.concatenate([[0.0], c[:-n]])) / n
    ctx.target(np.where(close > avg, float(params["units"]), 0.0))


MOMENTUM = spark.StrategySpec(
    name="momentum",
    fn=momentum,
    help="long while above the close `lookback` bars ago",
    params=(spark.Param(name="lookback", type="int", default=20, min=1, max=1000, help="bars to look back"),),
    warm_up=_lookback,
)
HALF_TARGET = spark.StrategySpec(
    name="half_target",
    fn=half_target,
    params=(
        spark.Param(name="window", type="int", default=20, min=1, max=1000),
        spark.Param(name="units", type="float", default=1.0, min=0.1, max=100.0),
    ),
)
