"""Compile the numba kernels once, so the first real backtest does not pay for it.

numba compiles each kernel on its first call (about 20 s of CPU for all of them) and caches the machine code
on disk (``cache=True``); later processes, service workers included, load it in a fraction of a second.
`make install` runs this once after installing; running it again is cheap. It exercises every built-in strategy
and every intent kind (signals, target positions, emitted orders) on a small synthetic series.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from spark.engine import Order, StrategySpec
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins, build_plugins
from spark.service.runner import run_backtest

__all__ = ["warm_up"]


def _targets(params, ctx) -> None:
    n = len(ctx.candles)
    ctx.target(np.where(np.arange(n) % 20 < 10, 1.0, -1.0))


def _orders(params, ctx) -> None:
    close = ctx.candles.close
    ctx.emit(Order(side="buy", bar=1, stop_loss=float(close[1]) * 0.9, take_profit=float(close[1]) * 1.1))
    ctx.emit(Order(side="sell", type="limit", price=float(close[5]) * 1.01, bar=5))
    ctx.emit(Order(side="buy", type="stop", price=float(close[10]) * 1.01, bar=10))


def warm_up(plugins: Plugins | None = None) -> float:
    """Run every registered strategy (of ``plugins``, default: every installed plugin) and each intent kind once
    on 300 synthetic bars; returns seconds taken."""
    began = time.perf_counter()
    plugins = plugins or build_plugins()
    candles = plugins.feed("synthetic").load(
        {"symbol": "WARM", "timeframe": "1h", "bars": 300, "seed": 1, "price": 100.0, "volatility": 0.01},
        FeedEnv(data_dir=Path("."), restricted=True),
    )
    for name in sorted(plugins.strategies):
        run_backtest(candles, name, plugins=plugins)
        run_backtest(candles, name, plugins=plugins, size_pct=0.5, fee=0.001, slippage_bps=1, fill="close")
    for fn in (_targets, _orders):
        run_backtest(candles, StrategySpec(name=fn.__name__, fn=fn), margin=True)
    return time.perf_counter() - began


if __name__ == "__main__":
    print(f"spark: engine kernels compiled and cached in {warm_up():.1f} s", file=sys.stderr)
