"""Built-in strategies. Each hands the engine whole signal arrays (``ctx.signals``): no Python loop per bar, and
no lookahead (a decision at bar t uses bars 0..t only; the test suite checks every registered strategy).

Signals mean "enter long when flat" and "exit when long"; an entry while long or an exit while flat does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from spark import Candles, Param, Plot, StrategyContext, StrategySpec, hookimpl
from spark.engine.sweep import Indicators, SignalRule
from spark.errors import ParamError

from .indicators import crossed_above, crossed_below, rolling_std, sma, wilder_rsi

__all__ = ["bollinger_breakout", "buy_and_hold", "register_strategies", "rsi_reversion", "sma_cross"]


def sma_cross(params: Mapping[str, Any], ctx: StrategyContext) -> None:
    """Long while the fast SMA is above the slow one: enter on a strict cross up
    (``fast[t-1] < slow[t-1]`` and ``fast[t] > slow[t]``), exit on the strict cross down."""
    close = ctx.candles.close
    fast, slow = sma(close, params["fast"]), sma(close, params["slow"])
    ctx.signals(crossed_above(fast, slow), crossed_below(fast, slow))


def sma_cross_lines(params: Mapping[str, Any], candles: Candles) -> dict[str, np.ndarray]:
    return {"fast": sma(candles.close, params["fast"]), "slow": sma(candles.close, params["slow"])}


def sma_cross_sweep(params: Mapping[str, Any], ind: Indicators) -> SignalRule:
    """The sweep fast path: each SMA window computed once per sweep, the crosses evaluated in the compiled pass."""
    close = ind.candles.close
    fast = ind.get(("sma", params["fast"]), lambda: sma(close, params["fast"]))
    slow = ind.get(("sma", params["slow"]), lambda: sma(close, params["slow"]))
    return SignalRule.cross(fast, slow, fast, slow)


def _fast_below_slow(p: dict[str, Any]) -> None:
    if p["fast"] >= p["slow"]:
        raise ParamError(f"params.fast ({p['fast']}) must be less than params.slow ({p['slow']})", field="params.fast")


def rsi_reversion(params: Mapping[str, Any], ctx: StrategyContext) -> None:
    """Mean reversion on Wilder's RSI: enter when RSI closes below ``lower`` (oversold), exit when it closes above
    ``upper`` (overbought)."""
    rsi = wilder_rsi(ctx.candles.close, params["period"])
    ctx.signals(rsi < params["lower"], rsi > params["upper"])


def rsi_line(params: Mapping[str, Any], candles: Candles) -> dict[str, np.ndarray]:
    return {"rsi": wilder_rsi(candles.close, params["period"])}


def rsi_sweep(params: Mapping[str, Any], ind: Indicators) -> SignalRule:
    rsi = ind.get(("rsi", params["period"]), lambda: wilder_rsi(ind.candles.close, params["period"]))
    return SignalRule.level(rsi, params["lower"], params["upper"])


def _lower_below_upper(p: dict[str, Any]) -> None:
    if p["lower"] >= p["upper"]:
        raise ParamError(
            f"params.lower ({p['lower']:g}) must be less than params.upper ({p['upper']:g})", field="params.lower"
        )


def bollinger_breakout(params: Mapping[str, Any], ctx: StrategyContext) -> None:
    """Breakout (trend following, not mean reversion): enter when the close crosses strictly above the upper band
    ``SMA(period) + k * std(period)``, exit when it crosses strictly below the middle band (the SMA)."""
    close = ctx.candles.close
    middle = sma(close, params["period"])
    upper = middle + params["k"] * rolling_std(close, params["period"])
    ctx.signals(crossed_above(close, upper), crossed_below(close, middle))


def bollinger_sweep(params: Mapping[str, Any], ind: Indicators) -> SignalRule:
    close = ind.candles.close
    period = params["period"]
    middle = ind.get(("sma", period), lambda: sma(close, period))
    std = ind.get(("std", period), lambda: rolling_std(close, period))
    upper = middle + params["k"] * std  # per set (k varies), exactly as the strategy computes it
    return SignalRule.cross(close, upper, close, middle)


def bollinger_bands(params: Mapping[str, Any], candles: Candles) -> dict[str, np.ndarray]:
    close = candles.close
    middle = sma(close, params["period"])
    width = params["k"] * rolling_std(close, params["period"])
    return {"upper": middle + width, "middle": middle, "lower": middle - width}


def buy_and_hold_sweep(params: Mapping[str, Any], ind: Indicators) -> SignalRule:
    n = len(ind.candles)
    entries = np.zeros(n, dtype=bool)
    entries[0] = True
    return SignalRule.signals(entries, np.zeros(n, dtype=bool))


def buy_and_hold(params: Mapping[str, Any], ctx: StrategyContext) -> None:
    """Enter on the first bar, never exit: the benchmark every strategy should beat."""
    n = len(ctx.candles)
    entries = np.zeros(n, dtype=bool)
    entries[0] = True
    ctx.signals(entries, np.zeros(n, dtype=bool))


def _slow_bars(p: Mapping[str, Any]) -> int:
    """SMA(slow) is defined from bar slow-1 and a cross needs the bar before: the first decision is at bar slow."""
    return int(p["slow"])


def _period_bars(p: Mapping[str, Any]) -> int:
    """RSI is defined from bar ``period``; the bands from bar period-1, a cross needing the bar before."""
    return int(p["period"])


def _no_bars(p: Mapping[str, Any]) -> int:
    return 0


SMA_CROSS = StrategySpec(
    name="sma_cross",
    fn=sma_cross,
    aliases=("smaCross",),
    check=_fast_below_slow,
    help="long while SMA(fast) is above SMA(slow): buy on the strict cross up, sell on the strict cross down",
    params=(
        Param(name="fast", type="int", default=10, min=1, max=1000, help="fast SMA period (bars)"),
        Param(name="slow", type="int", default=30, min=2, max=5000, help="slow SMA period (bars), > fast"),
    ),
    plots=(Plot(name="fast", label="SMA fast"), Plot(name="slow", label="SMA slow")),
    indicators=sma_cross_lines,
    warm_up=_slow_bars,
    sweep=sma_cross_sweep,
)
RSI_REVERSION = StrategySpec(
    name="rsi_reversion",
    fn=rsi_reversion,
    check=_lower_below_upper,
    help="buy when Wilder's RSI closes below lower, sell when it closes above upper",
    params=(
        Param(name="period", type="int", default=14, min=2, max=500, help="RSI period (bars)"),
        Param(name="lower", type="float", default=30.0, min=0.0, max=100.0, help="enter below this RSI"),
        Param(name="upper", type="float", default=70.0, min=0.0, max=100.0, help="exit above this RSI"),
    ),
    plots=(Plot(name="rsi", label="RSI", pane="rsi", levels=("lower", "upper")),),
    indicators=rsi_line,
    warm_up=_period_bars,
    sweep=rsi_sweep,
)
BOLLINGER_BREAKOUT = StrategySpec(
    name="bollinger_breakout",
    fn=bollinger_breakout,
    help="buy when the close crosses above the upper Bollinger band, sell when it crosses below the middle band",
    params=(
        Param(name="period", type="int", default=20, min=2, max=500, help="band window (bars)"),
        Param(name="k", type="float", default=2.0, min=0.1, max=10.0, help="band width in standard deviations"),
    ),
    plots=(
        Plot(name="upper", label="upper band"),
        Plot(name="middle", label="SMA (middle band)"),
        Plot(name="lower", label="lower band"),
    ),
    indicators=bollinger_bands,
    warm_up=_period_bars,
    sweep=bollinger_sweep,
)
BUY_AND_HOLD = StrategySpec(
    name="buy_and_hold",
    fn=buy_and_hold,
    help="buy on the first bar and hold to the end: the benchmark",
    warm_up=_no_bars,
    sweep=buy_and_hold_sweep,
)


@hookimpl
def register_strategies(register: Callable[[StrategySpec], None]) -> None:
    for spec in (SMA_CROSS, RSI_REVERSION, BOLLINGER_BREAKOUT, BUY_AND_HOLD):
        register(spec)
