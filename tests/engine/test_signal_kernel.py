"""Signal runs without gates go through `spark.engine.signal_kernel`, which books fills in locals; the general
fill kernel (`spark.engine.kernel.run_kernel`) books them through its shared helpers. Both must return the same
tables bit for bit: long and short, fees and slippage, both fill modes, unit and percent sizing, cash rejections,
margin, sizing from no equity, positions open at the end, thousands of trades."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spark.engine import Candles, Options, kernel
from spark.engine.signal_kernel import run_signals
from spark.engine.simulate import simulate
from spark.engine.strategy import Intent

from .helpers import FILL_OPTIONS, load_csv

OPTIONS = [
    *FILL_OPTIONS,
    Options(cash=50.0, fee=0.01, size=3.0, margin=True, fill="close"),  # equity goes below zero
    Options(cash=50.0, fee=0.01, size_pct=1.0, margin=True),  # then sizing has nothing to size from
]


def walk(bars: int, seed: int) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, bars)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0.0, 0.005, bars))
    high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
    ts = 1_700_000_000_000 + 60_000 * np.arange(bars)
    return Candles.from_arrays(timestamp=ts, open=open_, high=high, low=low, close=close, volume=np.ones(bars))


def general(candles: Candles, intent: Intent, options: Options) -> tuple:
    """The same run through the general kernel, laid out as `spark.engine.simulate` lays it out."""
    none_b, none_f, none_i = np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0, dtype=np.int64)
    shorts = intent.short_entries is not None
    sent = intent.short_entries if shorts else none_b
    sex = intent.short_exits if shorts else none_b
    size = 1.0 if options.size is None else float(options.size)
    pct = math.nan if options.size_pct is None else float(options.size_pct)
    return kernel.run_kernel(
        candles.open, candles.high, candles.low, candles.close, kernel.SIGNALS,
        intent.entries, intent.exits, sent, sex, none_f,
        none_i, none_f, none_f, none_i, none_f, none_f, none_f,
        float(options.cash), float(options.fee), options.slippage_bps / 1e4, size, pct,
        options.fill == "close", bool(options.margin), 8,
    )  # fmt: skip


def random_intent(n: int, seed: int, p: float, shorts: bool) -> Intent:
    rng = np.random.default_rng(seed)
    flags = [rng.random(n) < p for _ in range(4)]
    return Intent(
        entries=flags[0],
        exits=flags[1],
        short_entries=flags[2] if shorts else None,
        short_exits=flags[3] if shorts else None,
    )


@pytest.mark.parametrize("options", OPTIONS, ids=range(len(OPTIONS)))
@pytest.mark.parametrize("shorts", [False, True], ids=["long", "short"])
def test_the_signal_kernel_returns_what_the_general_kernel_returns(options: Options, shorts: bool) -> None:
    trades = 0
    for candles in (load_csv("GOOG.csv"), walk(20_000, 5)):
        for seed, p in ((0, 0.02), (1, 0.2), (2, 0.6), (3, 1.0)):
            intent = random_intent(len(candles), seed, p, shorts)
            sim = simulate(candles, intent, options)
            want = general(candles, intent, options)
            for got, expected in zip((sim.equity, sim.fills, sim.trades, sim.rejected), want[:4], strict=True):
                np.testing.assert_array_equal(got, expected)
            assert sim.exposed_bars == want[4]
            trades = max(trades, len(sim.trades))
    assert trades > 1000


def test_a_run_without_signals_and_one_open_at_the_end() -> None:
    candles = walk(500, 9)
    none = simulate(candles, Intent(), Options())
    assert len(none.fills) == len(none.trades) == len(none.rejected) == 0 and none.exposed_bars == 0
    assert (none.equity == Options().cash).all()
    entries = np.zeros(500, dtype=bool)
    entries[100] = True
    opened = simulate(candles, Intent(entries=entries, exits=np.zeros(500, dtype=bool)), Options(fee=0.001))
    [trade] = opened.trades
    assert trade[3] == 101 and trade[4] == -1 and math.isnan(trade[6]) and trade[9] == 1.0
    assert opened.exposed_bars == 500 - 101
    want = general(candles, Intent(entries=entries, exits=np.zeros(500, dtype=bool)), Options(fee=0.001))
    np.testing.assert_array_equal(opened.trades, want[2])


def test_run_signals_is_the_engine_path_for_signal_runs() -> None:
    candles = walk(300, 3)
    intent = random_intent(300, 4, 0.3, True)
    o = Options(fee=0.001)
    direct = run_signals(
        candles.open, candles.close, intent.entries, intent.exits, intent.short_entries, intent.short_exits,
        o.cash, o.fee, 0.0, 1.0, math.nan, False, False,
    )  # fmt: skip
    np.testing.assert_array_equal(direct[1], simulate(candles, intent, o).fills)


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_tables_sized_from_the_signal_counts_hold_the_busiest_runs(fill: str) -> None:
    # The tables are sized from the counts (positions opened <= min(entry signals, exit signals + 1)): runs that
    # meet the bound exactly, an entry and an exit on every bar, or on every bar but a few, long and short.
    candles = walk(3000, 11)
    every, none = np.ones(3000, dtype=bool), np.zeros(3000, dtype=bool)
    some = np.zeros(3000, dtype=bool)
    some[::7] = True
    intents = [
        Intent(entries=every, exits=every),
        Intent(entries=every, exits=some),
        Intent(entries=some, exits=every),
        Intent(entries=every, exits=none),
        Intent(entries=none, exits=every, short_entries=every, short_exits=some),
        Intent(entries=every, exits=every, short_entries=every, short_exits=every),
    ]
    for intent in intents:
        for options in (Options(fill=fill), Options(fill=fill, size_pct=1.0, fee=0.01)):
            sim = simulate(candles, intent, options)
            want = general(candles, intent, options)
            for got, expected in zip((sim.equity, sim.fills, sim.trades, sim.rejected), want[:4], strict=True):
                np.testing.assert_array_equal(got, expected)
