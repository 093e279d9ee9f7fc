"""The built-in strategies: declared parameters, hand-checked signals, and no lookahead for every one of them."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spark.engine import Candles, Intent, StrategySpec, collect, validate_params
from spark.errors import ParamError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import build_plugins

PLUGINS = build_plugins()
BUILTINS = ("sma_cross", "rsi_reversion", "bollinger_breakout", "buy_and_hold")
# Besides the defaults, settings short enough to fire often on a few hundred bars.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "sma_cross": [{}, {"fast": 3, "slow": 7}],
    "rsi_reversion": [{}, {"period": 5, "lower": 40, "upper": 60}],
    "bollinger_breakout": [{}, {"period": 5, "k": 0.5}],
    "buy_and_hold": [{}],
}


def intent_of(spec: StrategySpec, candles: Candles, given: dict[str, Any]) -> Intent:
    """What the strategy hands the engine, collected exactly as a backtest collects it."""
    return collect(candles, spec, validate_params(spec.params, given, check=spec.check))


def closes(values: list[float]) -> Candles:
    c = np.asarray(values, dtype=float)
    return Candles.from_arrays(timestamp=np.arange(len(c)) * 60_000, open=c, high=c, low=c, close=c)


@pytest.fixture(scope="module")
def synthetic() -> Candles:
    return PLUGINS.feed("synthetic").load(
        {"symbol": "LOOK", "timeframe": "1h", "bars": 3000, "seed": 7}, FeedEnv(data_dir=Path("."))
    )


def test_every_builtin_is_registered_with_declared_params() -> None:
    assert set(BUILTINS) <= set(PLUGINS.strategies)
    assert set(VARIANTS) == set(PLUGINS.strategies), "a new strategy needs lookahead variants here"
    for name in BUILTINS:
        spec = PLUGINS.strategy(name)
        assert spec.help
        for p in spec.params:
            assert p.help and p.type in {"int", "float"} and p.min is not None and p.max is not None
            assert p.min <= p.default <= p.max


def test_sma_cross_alias_and_defaults() -> None:
    spec = PLUGINS.strategy("smaCross")
    assert spec.name == "sma_cross"
    assert validate_params(spec.params, {}, check=spec.check) == {"fast": 10, "slow": 30}


@pytest.mark.parametrize(
    ("name", "given", "field"),
    [
        ("sma_cross", {"fast": 30, "slow": 30}, "params.fast"),
        ("sma_cross", {"fast": 40}, "params.fast"),
        ("sma_cross", {"fast": 0}, "params.fast"),
        ("sma_cross", {"slow": 1.5}, "params.slow"),
        ("sma_cross", {"slow": 5001}, "params.slow"),
        ("rsi_reversion", {"lower": 70, "upper": 30}, "params.lower"),
        ("rsi_reversion", {"period": 1}, "params.period"),
        ("bollinger_breakout", {"k": 0}, "params.k"),
        ("buy_and_hold", {"fast": 1}, "params.fast"),
    ],
)
def test_bad_params_are_refused_naming_the_field(name: str, given: dict, field: str) -> None:
    spec = PLUGINS.strategy(name)
    with pytest.raises(ParamError) as err:
        validate_params(spec.params, given, check=spec.check)
    assert err.value.field == field


def test_sma_cross_signals_by_hand() -> None:
    # fast = SMA1 = close, slow = SMA3: [nan nan 2 5/3 2 7/3 2]
    intent = intent_of(PLUGINS.strategy("sma_cross"), closes([3, 2, 1, 2, 3, 2, 1]), {"fast": 1, "slow": 3})
    assert np.flatnonzero(intent.entries).tolist() == [3]
    assert np.flatnonzero(intent.exits).tolist() == [5]
    assert intent.target is None and intent.orders == []


def test_sma_cross_a_touch_is_not_a_cross() -> None:
    # fast = close, slow = SMA2: close goes 1 -> 3 -> 3 -> 4; at t=2 fast == slow (3 == 3), then above
    intent = intent_of(PLUGINS.strategy("sma_cross"), closes([3, 1, 3, 3, 4]), {"fast": 1, "slow": 2})
    # t=2: prev fast 1 < slow 2, now 3 > 2 -> cross; t=3: fast 3 == slow 3 -> touch; t=4: prev equal -> no cross
    assert np.flatnonzero(intent.entries).tolist() == [2]
    assert not intent.exits.any()


def test_rsi_reversion_by_hand() -> None:
    # RSI(2) = [nan nan 100 50 25 62.5]: below 30 at t=4, above 60 at t=2 and t=5
    intent = intent_of(
        PLUGINS.strategy("rsi_reversion"), closes([10, 11, 12, 11, 10, 11]), {"period": 2, "lower": 30, "upper": 60}
    )
    assert np.flatnonzero(intent.entries).tolist() == [4]
    assert np.flatnonzero(intent.exits).tolist() == [2, 5]


def test_bollinger_breakout_matches_a_plain_window_computation(goog: Candles) -> None:
    intent = intent_of(PLUGINS.strategy("bollinger_breakout"), goog, {"period": 20, "k": 2.0})
    close = np.asarray(goog.close)
    windows = np.lib.stride_tricks.sliding_window_view(close, 20)
    middle = np.full(len(close), np.nan)
    upper = np.full(len(close), np.nan)
    middle[19:] = windows.mean(axis=1)
    upper[19:] = middle[19:] + 2.0 * windows.std(axis=1)
    above = np.r_[False, (close[:-1] < upper[:-1]) & (close[1:] > upper[1:])]
    below = np.r_[False, (close[:-1] > middle[:-1]) & (close[1:] < middle[1:])]
    assert above.sum() > 5 and below.sum() > 5
    assert np.array_equal(intent.entries, above) and np.array_equal(intent.exits, below)


def test_buy_and_hold_enters_once() -> None:
    intent = intent_of(PLUGINS.strategy("buy_and_hold"), closes([1, 2, 3]), {})
    assert intent.entries.tolist() == [True, False, False] and not intent.exits.any()


def _same_prefix(full: Intent, part: Intent, k: int) -> None:
    for name in ("entries", "exits", "short_entries", "short_exits", "target"):
        a, b = getattr(full, name), getattr(part, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert len(b) == k and np.array_equal(a[:k], b), f"{name} differs on the first {k} bars"
    assert [o for o in full.orders if o.bar is not None and o.bar < k] == part.orders


@pytest.mark.parametrize("series", ["goog", "synthetic"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_no_lookahead_prefix_output_equals_output_prefix(
    request: pytest.FixtureRequest, series: str, name: str
) -> None:
    candles: Candles = request.getfixturevalue(series)
    spec = PLUGINS.strategy(name)
    n = len(candles)
    for given in VARIANTS[name]:
        full = intent_of(spec, candles, given)
        assert full.entries is not None and full.entries.any(), "the check is empty without signals"
        if name != "buy_and_hold":
            assert full.exits.any()
        for k in sorted({1, 2, 3, 7, 8, 20, 21, 31, 100, n // 3, n // 2, n - 2, n - 1}):
            _same_prefix(full, intent_of(spec, candles.head(k), given), k)
