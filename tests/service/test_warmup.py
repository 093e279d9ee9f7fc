"""The install-time warm-up runs every built-in strategy and every intent kind without error."""

from spark.service.runner import plugins_for
from spark.service.warmup import warm_up


def test_warm_up_exercises_every_strategy_and_intent_kind() -> None:
    plugins = plugins_for()
    assert {"sma_cross", "rsi_reversion", "bollinger_breakout", "buy_and_hold"} <= set(plugins.strategies)
    assert warm_up(plugins) >= 0.0
