"""The install-time warm-up runs every built-in strategy and every intent kind without error."""

from spark.plugin.manager import build_plugins
from spark.service.warmup import warm_up


def test_warm_up_exercises_every_strategy_and_intent_kind() -> None:
    plugins = build_plugins()
    assert {"sma_cross", "rsi_reversion", "bollinger_breakout", "buy_and_hold"} <= set(plugins.strategies)
    assert warm_up(plugins) >= 0.0
