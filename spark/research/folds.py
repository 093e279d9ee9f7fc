"""Walk-forward fold layout and the out-of-sample run of one parameter set on one test window.

Layout (bar indices, ``P`` purge, ``E`` embargo, ``L`` train bars, ``T`` test bars): test windows follow each
other, ``E`` bars apart; fold k tests ``[s_k, s_k + T)`` and trains on ``[s_k - P - L, s_k - P)`` (rolling) or
``[0, s_k - P)`` (anchored), so ``P`` bars between them are used by neither. The first fold's train window has
``L`` bars in both modes. Given only ``folds``, the data is cut into ``folds + 1`` equal parts (the first one
trains the first fold).

A test window is warmed up on the bars before it (the strategy's warm-up, which the purge covers): the strategy
sees them, but no decision taken there counts and no trade is made there; stats cover the test bars only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from spark.engine import Candles, Options, StrategySpec
from spark.engine.backtest import collect
from spark.engine.simulate import Simulation, simulate
from spark.engine.stats import compute_stats
from spark.engine.sweep import window
from spark.errors import ParamError

__all__ = ["Fold", "layout", "out_of_sample"]


@dataclass(frozen=True, slots=True)
class Fold:
    number: int
    train: tuple[int, int]
    test: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {"fold": self.number, "train": list(self.train), "test": list(self.test)}


def _whole(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ParamError(
            f"walkForward.{name} must be a whole number >= {low}, got {value!r}", field=f"walkForward.{name}"
        )
    return int(value)


def layout(
    n: int,
    *,
    folds: int | None,
    mode: str,
    train_bars: int | None,
    test_bars: int | None,
    purge: int,
    embargo: int,
    min_train: int,
) -> list[Fold]:
    """The folds over ``n`` bars; ParamError naming the fold (or the field) when a window cannot hold enough
    bars (a train window needs ``min_train``, a test window 2)."""
    if mode not in ("rolling", "anchored"):
        raise ParamError(f"walkForward.mode must be rolling or anchored, got {mode!r}", field="walkForward.mode")
    k = None if folds is None else _whole(folds, "folds", 1)
    big = _whole(embargo, "embargoBars", 0)
    gap = _whole(purge, "purgeBars", 0)
    train = None if train_bars is None else _whole(train_bars, "trainBars", 1)
    test = None if test_bars is None else _whole(test_bars, "testBars", 1)
    if k is None and (train is None or test is None):
        k = 5
    if train is None and test is None:
        test = train = (n - gap - (k - 1) * big) // (k + 1)
    elif test is None:
        test = (n - train - gap - (k - 1) * big) // k
    elif train is None:
        train = n - gap - k * test - (k - 1) * big
    if k is None:
        k = max(0, (n - train - gap + big) // (test + big))
        if k < 1:
            raise ParamError(
                f"walkForward: {n} bars cannot hold one fold of {train}+{gap}+{test} bars", field="walkForward"
            )
    if train < min_train:
        raise ParamError(
            f"walkForward: fold 1's train window has {train} bars, fewer than the {min_train} (warm-up plus 2)",
            field="walkForward.trainBars",
        )
    if test < 2:
        raise ParamError(
            f"walkForward: fold 1's test window has {test} bars (fewer than 2)", field="walkForward.testBars"
        )
    out = []
    for i in range(k):
        s = train + gap + i * (test + big)
        if s + test > n:
            raise ParamError(
                f"walkForward: fold {i + 1}'s test window {s}..{s + test} ends past the data ({n} bars)",
                field="walkForward.folds",
            )
        start = 0 if mode == "anchored" else s - gap - train
        out.append(Fold(number=i + 1, train=(start, s - gap), test=(s, s + test)))
    return out


def _masked(intent: Any, warm: int, candles: Candles) -> Any:
    """The intent with every decision before bar ``warm`` taken out."""
    if warm <= 0:
        return intent
    if intent.entries is not None:
        cols = {}
        for name in ("entries", "exits", "short_entries", "short_exits"):
            arr = getattr(intent, name)
            if arr is not None:
                arr = np.array(arr, dtype=bool)
                arr[:warm] = False
            cols[name] = arr
        return replace(intent, **cols)
    if intent.target is not None:
        target = np.array(intent.target, dtype=np.float64)
        target[:warm] = 0.0
        return replace(intent, target=target)
    kept = []
    for order in intent.orders:
        bar = order.bar if order.bar is not None else int(np.searchsorted(candles.timestamp, order.ts))
        if bar >= warm:
            kept.append(order)
    return replace(intent, orders=kept)


def out_of_sample(
    candles: Candles, spec: StrategySpec, params: Mapping[str, Any], options: Options, start: int, stop: int
) -> tuple[Simulation, dict[str, Any], Candles]:
    """Run ``params`` on bars ``start..stop-1``, warmed up on the warm-up bars before ``start``: the simulation
    from ``start`` on (equity of the test bars only), its stats, and the test window's candles."""
    warm = min(spec.warmup(params), start)
    seg = window(candles, start - warm, stop)
    intent = _masked(collect(seg, spec, params), warm, seg)
    sim = simulate(seg, intent, options)
    test = window(candles, start, stop)
    equity = np.ascontiguousarray(sim.equity[warm:])
    trades = sim.trades.copy()
    trades[:, 3] -= warm
    live = trades[:, 4] >= 0
    trades[live, 4] -= warm
    fills = sim.fills.copy()
    fills[:, 0] -= warm
    sim = Simulation(equity=equity, fills=fills, trades=trades, rejected=sim.rejected, exposed_bars=sim.exposed_bars)
    stats, _ = compute_stats(
        equity=equity,
        trades=trades,
        fills=fills,
        rejected=len(sim.rejected),
        exposed_bars=sim.exposed_bars,
        candles=test,
        options=options,
    )
    return sim, stats, test
