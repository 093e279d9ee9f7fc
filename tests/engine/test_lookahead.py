"""Prefix invariance of the simulator: equity and fills up to bar t depend only on candles[:t+1]."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spark.engine import Candles, Options, Order, backtest

from .helpers import RUN, spec


@st.composite
def market(draw):
    n = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.02, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.03, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.03, n))
    candles = Candles.from_arrays(
        timestamp=1_000 * np.arange(n), open=open_, high=high, low=low, close=close, timeframe="1m"
    )
    return candles, rng.random((4, n)) < 0.3, rng


def options():
    return st.builds(
        Options,
        cash=st.sampled_from([50.0, 1_000.0]),
        fee=st.sampled_from([0.0, 0.002]),
        slippage_bps=st.sampled_from([0.0, 5.0]),
        fill=st.sampled_from(["next_open", "close"]),
        size_pct=st.sampled_from([None, 0.5, 1.0]),
    )


def assert_prefix_invariant(candles: Candles, strategy, opts: Options, k: int) -> None:
    result = backtest(candles, strategy, {}, opts, **RUN)
    result.to_json()  # never NaN or infinity on the wire (to_json refuses them)
    full = result.report
    head = backtest(candles.head(k), strategy, {}, opts, **RUN).report
    assert head.equity.tolist() == full.equity[:k].tolist()
    assert head.fills.array.tolist() == full.fills.array[full.fills.array[:, 0] < k].tolist()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market(), options(), st.data())
def test_signals(m, opts, data) -> None:
    candles, sig, _ = m
    k = data.draw(st.integers(1, len(candles)))

    def fn(params, ctx):
        n = len(ctx.candles)
        ctx.signals(sig[0, :n], sig[1, :n], short_entries=sig[2, :n], short_exits=sig[3, :n])

    assert_prefix_invariant(candles, spec(fn), opts, k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market(), options(), st.data())
def test_orders_and_targets(m, opts, data) -> None:
    candles, _, rng = m
    n = len(candles)
    k = data.draw(st.integers(1, n))
    levels = candles.close * rng.uniform(0.95, 1.05, n)
    kinds = rng.choice(["market", "limit", "stop"], n)
    sides = rng.choice(["buy", "sell"], n)
    wanted = rng.random(n) < 0.4
    target = np.round(rng.uniform(-1, 1, n), 1)

    def emit(params, ctx):
        for t in range(len(ctx.candles)):
            if wanted[t]:
                c = float(ctx.candles.close[t])
                ctx.emit(
                    Order(
                        side=sides[t],
                        type=kinds[t],
                        bar=t,
                        price=None if kinds[t] == "market" else float(levels[t]),
                        stop_loss=c * 0.97 if sides[t] == "buy" else c * 1.03,
                        take_profit=c * 1.04 if sides[t] == "buy" else c * 0.96,
                    )
                )

    def aim(params, ctx):
        ctx.target(target[: len(ctx.candles)])

    assert_prefix_invariant(candles, spec(emit), opts, k)
    assert_prefix_invariant(candles, spec(aim), opts, k)
