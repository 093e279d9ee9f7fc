from collections.abc import Callable

import pytest

from spark import StrategySpec, hookimpl
from spark.errors import PluginError, UnknownPlugin
from spark.plugin.manager import build_plugins


class Thrower:
    @hookimpl
    def register_strategies(self, register: Callable) -> None:
        raise RuntimeError("boom")


class Wrong:
    @hookimpl
    def register_strategies(self, register: Callable) -> None:
        register("not a spec")


def noop(params, ctx) -> None:  # a module-level function, as runs need
    pass


class Override:
    @hookimpl
    def register_strategies(self, register: Callable) -> None:
        register(StrategySpec(name="buy_and_hold", fn=noop, version="9", aliases=("bh",)))


def test_builtins_load_through_entry_points() -> None:
    plugins = build_plugins()
    assert plugins.names[:2] == ["strategies", "feeds"]
    assert plugins.strategy("buy_and_hold").name == "buy_and_hold"


def test_disabled_plugins_are_blocked_at_start() -> None:
    plugins = build_plugins(disabled=["strategies"])
    assert "strategies" not in plugins.names
    with pytest.raises(UnknownPlugin) as err:
        plugins.strategy("buy_and_hold")
    assert err.value.field == "strategy"


def test_plugin_errors_carry_the_plugin_name() -> None:
    with pytest.raises(PluginError, match="'thrower'.*boom"):
        build_plugins(extra=[(Thrower(), "thrower")])
    with pytest.raises(PluginError, match="'wrong'.*StrategySpec"):
        build_plugins(extra=[(Wrong(), "wrong")])


def test_a_later_plugin_overrides_a_builtin_and_adds_aliases() -> None:
    plugins = build_plugins(extra=[(Override(), "override")])
    assert plugins.strategy("bh").version == "9"


def test_every_hook_is_documented() -> None:
    from spark.plugin import hookspecs

    for name in ("register_strategies", "register_feeds", "register_routes"):
        doc = getattr(hookspecs, name).__doc__
        assert doc and len(doc.strip()) > 40, name
