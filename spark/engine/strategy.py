"""The strategy contract: a declared spec, and the context a strategy function writes its intent into.

A strategy is ``fn(params, ctx) -> None``. It sees the whole series (``ctx.candles``) and hands over either orders
one by one (``ctx.emit``) or whole arrays (``ctx.signals(entries, exits)``, ``ctx.target(positions)``), which the
engine simulates without a Python loop per bar. It must not look ahead: its output on the first k bars equals the
first k of its output on all bars (the test suite checks every built-in strategy for this).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spark.engine.candles import Candles
from spark.engine.orders import Order
from spark.engine.params import Param
from spark.errors import ParamError

if TYPE_CHECKING:
    from spark.engine.sweep import Indicators, SignalRule

__all__ = ["Intent", "Plot", "StrategyContext", "StrategyFn", "StrategySpec"]

StrategyFn = Callable[[Mapping[str, Any], "StrategyContext"], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Plot:
    """One line a strategy draws over its run: the series ``name`` of its ``indicators``, on the price pane or on
    a pane of its own (``pane="rsi"``), with horizontal ``levels`` there (numbers, or names of params whose run
    values are the levels, e.g. an RSI's thresholds)."""

    name: str
    label: str = ""
    pane: str = "price"
    levels: tuple[float | str, ...] = ()
    color: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "pane": self.pane,
            "levels": list(self.levels),
            "color": self.color or None,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategySpec:
    """What a plugin registers: the function, its declared parameters and a version that enters fingerprints.

    ``check`` validates rules between parameters (``fast < slow``) by raising ParamError. ``plots`` declares what
    the report view draws; ``indicators(params, candles)`` computes those series (one float per bar, NaN where
    undefined): for display only, never an input of the run.

    ``warm_up(params) -> bars`` declares how many bars the strategy needs before its first decision can be taken
    (read it through `warmup`; none declared: 0). Walk-forward purges at least that many bars between a fold's
    train and test windows, and warms a test window up on the bars before it. ``sweep(params, indicators) ->
    SignalRule`` is an optional fast path for sweeps (`spark.engine.sweep`): the same signals as ``fn``, from
    indicators cached once per distinct window, evaluated inside the compiled pass.
    """

    name: str
    fn: StrategyFn
    params: tuple[Param, ...] = ()
    version: str = "1"
    help: str = ""
    aliases: tuple[str, ...] = ()
    check: Callable[[dict[str, Any]], None] | None = None
    plots: tuple[Plot, ...] = ()
    indicators: Callable[[Mapping[str, Any], Candles], Mapping[str, np.ndarray]] | None = None
    warm_up: Callable[[Mapping[str, Any]], int] | None = None
    sweep: Callable[[Mapping[str, Any], Indicators], SignalRule] | None = None

    def warmup(self, params: Mapping[str, Any]) -> int:
        """Bars of history the strategy needs before it can decide anything with ``params`` (0 if undeclared)."""
        if self.warm_up is None:
            return 0
        bars = self.warm_up(params)
        if isinstance(bars, bool) or not isinstance(bars, int | np.integer) or bars < 0:
            raise ParamError(f"strategy {self.name}: warm_up must give a whole number of bars >= 0, got {bars!r}")
        return int(bars)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "help": self.help,
            "aliases": list(self.aliases),
            "params": [p.to_json() for p in self.params],
            "plots": [p.to_json() for p in self.plots],
        }


@dataclass(slots=True)
class Intent:
    """Everything a strategy handed over, in bar order; the engine's only input from strategy code.

    ``entries``/``exits`` (and the short pair) are bool arrays, one per bar, or None; ``target`` is a float array of
    desired signed positions or None; ``orders`` are emitted orders.
    """

    entries: np.ndarray | None = None
    exits: np.ndarray | None = None
    short_entries: np.ndarray | None = None
    short_exits: np.ndarray | None = None
    target: np.ndarray | None = None
    orders: list[Order] = field(default_factory=list)


class StrategyContext:
    """Handed to a strategy function; records its intent and gives it data time and seeded randomness."""

    def __init__(self, candles: Candles, params: Mapping[str, Any]) -> None:
        self.candles = candles
        self.params = params
        self.intent = Intent()

    def now(self) -> int:
        """Data time: the timestamp (ms) of the last bar the strategy can see. Never the wall clock."""
        return int(self.candles.timestamp[-1])

    def rand(self, seed: str | int = "") -> np.random.Generator:
        """A generator seeded from a stable hash of ``seed`` (never Python's salted ``hash()``)."""
        digest = hashlib.sha256(str(seed).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def emit(self, order: Order) -> None:
        """Hand over one order decided at the close of bar ``order.bar`` (or the bar at ``order.ts``)."""
        if not isinstance(order, Order):
            raise ParamError(f"emit() takes an Order, got {type(order).__name__}")
        self.intent.orders.append(order)

    def signals(self, entries: Any, exits: Any, *, short_entries: Any = None, short_exits: Any = None) -> None:
        """Hand over boolean arrays, one value per bar: enter long / exit long (and optionally short)."""
        n = len(self.candles)
        self.intent.entries = _bool_column(entries, n, "entries")
        self.intent.exits = _bool_column(exits, n, "exits")
        if short_entries is not None:
            self.intent.short_entries = _bool_column(short_entries, n, "short_entries")
        if short_exits is not None:
            self.intent.short_exits = _bool_column(short_exits, n, "short_exits")

    def target(self, positions: Any) -> None:
        """Hand over the desired signed position per bar (units, or fractions of equity with ``size_pct``)."""
        arr = np.asarray(positions, dtype=np.float64)
        if arr.shape != (len(self.candles),):
            raise ParamError(f"target() needs one value per bar ({len(self.candles)}), got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ParamError("target() positions must be finite")
        self.intent.target = arr


def _bool_column(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ParamError(f"signals(): {name} needs one value per bar ({n}), got shape {arr.shape}")
    return arr.astype(bool, copy=False)
