"""The sweep kernel books signal fills in locals (`spark.engine.sweep_kernel`); the fill kernel through its
general helpers. Both must give the same accumulators for random signals: long and short, fees and slippage,
fills at the next open and at the close, unit and percent sizing, rejections for cash, margin, a warm-up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spark.engine import Options
from spark.engine.backtest import collect
from spark.engine.simulate import simulate
from spark.engine.sweep import evaluate_sets
from spark.engine.sweep_kernel import ACC_NAMES, accumulate_tables

from .helpers import FILL_OPTIONS, load_csv, spec

COUNTS = ("closed", "wins", "bad_notional", "dd_bars", "dd_start", "dd_end", "ok", "exposed", "rejected", "open")


def random_signals(params: dict[str, Any], ctx: Any) -> None:
    rng = np.random.default_rng(params["seed"])
    n = len(ctx.candles)
    p = params["p"]
    if params["shorts"]:
        ctx.signals(
            rng.random(n) < p, rng.random(n) < p, short_entries=rng.random(n) < p, short_exits=rng.random(n) < p
        )
    else:
        ctx.signals(rng.random(n) < p, rng.random(n) < p)


SPEC = spec(random_signals, "random_signals")


@pytest.mark.parametrize("options", FILL_OPTIONS)
@pytest.mark.parametrize("shorts", [False, True])
@pytest.mark.parametrize("start", [0, 37])
def test_sweep_fills_equal_the_general_fill_kernel(options: Options, shorts: bool, start: int) -> None:
    candles = load_csv("GOOG.csv")
    sets = [{"seed": seed, "p": p, "shorts": shorts} for seed in range(4) for p in (0.02, 0.2, 0.6)]
    got = evaluate_sets(candles, SPEC, sets, options, start=start)
    for row, params in zip(got, sets, strict=True):
        intent = collect(candles, SPEC, params)
        for name in ("entries", "exits", "short_entries", "short_exits"):
            arr = getattr(intent, name)
            if arr is not None:
                arr[:start] = False  # the warm-up decides nothing
        sim = simulate(candles, intent, options)
        want = accumulate_tables(sim.equity, sim.trades, sim.fills, len(sim.rejected), sim.exposed_bars, options.cash)
        for k, name in enumerate(ACC_NAMES):
            if name in COUNTS or name in ("final", "max_dd"):
                assert row[k] == want[k], (params, name, row[k], want[k])
            else:  # sums: the table path adds pairwise (numpy), the pass in order
                assert row[k] == pytest.approx(want[k], rel=1e-12, abs=1e-12), (params, name)
    assert got[:, ACC_NAMES.index("closed")].sum() > 0
    if options.size == 20.0 and not options.margin:
        assert got[:, ACC_NAMES.index("rejected")].sum() > 0
