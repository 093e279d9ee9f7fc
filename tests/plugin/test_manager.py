"""The plugin manager: one entry-point scan into a picklable `PluginSet`, fresh managers built from it, hooks
called through pluggy (each plugin named in its errors), the built-in plugin names reserved."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from plugkit import install_plugin, spark_cli

import spark
from spark import StrategySpec, hookimpl
from spark.errors import PluginError, UnknownPlugin
from spark.plugin.manager import BUILTIN_PLUGINS, PluginSet, build_plugins, scan_plugins

BUILTIN_ENTRY_POINTS = tuple((name, f"spark_plugins.{name}") for name in BUILTIN_PLUGINS)

STRATEGY_PLUGIN = """
import numpy as np
import spark


def hold_nothing(params, ctx):
    n = len(ctx.candles)
    ctx.signals(np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))


@spark.hookimpl
def register_strategies(register):
    register(spark.StrategySpec(name={name!r}, fn=hold_nothing, version="99"))
"""


class Thrower:
    @hookimpl
    def register_strategies(self, register: Callable) -> None:
        raise RuntimeError("boom")


class Wrong:
    @hookimpl
    def register_strategies(self, register: Callable) -> None:
        register("not a spec")


class AsksTooMuch:
    @hookimpl
    def register_strategies(self, register: Callable, candles: object) -> None:
        pass


class UnknownHook:
    @hookimpl
    def register_indicators(self, register: Callable) -> None:
        pass


class TakesNothing:
    """pluggy hands an implementation only the arguments it names (here: none)."""

    called = False

    @hookimpl
    def register_feeds(self) -> None:
        TakesNothing.called = True


def noop(params, ctx) -> None:  # a module-level function, as runs need
    pass


class Override:
    @hookimpl
    def register_strategies(self, register: Callable) -> None:
        register(StrategySpec(name="buy_and_hold", fn=noop, version="9", aliases=("bh",)))


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real distributions: one claiming the reserved name ``strategies``, one overriding ``sma_cross``."""
    root = tmp_path_factory.mktemp("dists")
    return {
        "squatter": install_plugin(
            root,
            "spark-squatter",
            {"squatter_strategies.py": STRATEGY_PLUGIN.format(name="squatted")},
            {"strategies": "squatter_strategies"},
        ),
        "better": install_plugin(
            root,
            "spark-better-sma",
            {"better_sma.py": STRATEGY_PLUGIN.format(name="sma_cross")},
            {"better_sma": "better_sma"},
        ),
        "late": install_plugin(
            root,
            "spark-late",
            {"late_arrival.py": STRATEGY_PLUGIN.format(name="late_arrival")},
            {"late_arrival": "late_arrival"},
        ),
        "twin_a": install_plugin(root, "spark-twin-a", {"twin_a.py": ""}, {"twin": "twin_a"}),
        "twin_b": install_plugin(root, "spark-twin-b", {"twin_b.py": ""}, {"twin": "twin_b"}),
    }


def test_builtins_load_through_entry_points_first() -> None:
    plugins = build_plugins()
    assert plugins.names[:3] == list(BUILTIN_PLUGINS)
    assert plugins.strategy("buy_and_hold").name == "buy_and_hold"


def test_one_scan_gives_a_picklable_plugin_set_that_plugins_keep() -> None:
    found = scan_plugins(disabled=["feeds"], extra=[(Override(), "override")])
    assert found.entry_points[:3] == BUILTIN_ENTRY_POINTS
    assert found.disabled == ("feeds",)
    assert [name for _, name in found.extra] == ["override"]
    plain = scan_plugins()
    assert pickle.loads(pickle.dumps(plain)) == plain  # what a worker process receives
    plugins = build_plugins(found)
    assert plugins.plugin_set is found
    assert plugins.names == ["strategies", "write", "override"] and plugins.feeds == {}
    assert build_plugins(plain).names == [name for name, _ in plain.entry_points]


def test_a_plugin_set_loads_exactly_its_entry_points() -> None:
    plugins = build_plugins(PluginSet(entry_points=(BUILTIN_ENTRY_POINTS[0],)))
    assert plugins.names == ["strategies"]
    assert "sma_cross" in plugins.strategies and plugins.feeds == {}


def test_disabled_plugins_are_blocked_at_start() -> None:
    plugins = build_plugins(scan_plugins(disabled=["strategies", "extra"], extra=[(Override(), "extra")]))
    assert "strategies" not in plugins.names and "extra" not in plugins.names
    with pytest.raises(UnknownPlugin) as err:
        plugins.strategy("buy_and_hold")
    assert err.value.field == "strategy"


def test_plugin_errors_carry_the_plugin_name() -> None:
    with pytest.raises(PluginError, match="'thrower'.*boom"):
        build_plugins(scan_plugins(extra=[(Thrower(), "thrower")]))
    with pytest.raises(PluginError, match="'wrong'.*StrategySpec"):
        build_plugins(scan_plugins(extra=[(Wrong(), "wrong")]))
    with pytest.raises(PluginError, match="'greedy'.*candles"):
        build_plugins(scan_plugins(extra=[(AsksTooMuch(), "greedy")]))
    with pytest.raises(PluginError, match="'unknownhook'.*register_indicators"):
        build_plugins(scan_plugins(extra=[(UnknownHook(), "unknownhook")]))


def test_a_hook_implementation_may_take_a_subset_of_the_arguments() -> None:
    TakesNothing.called = False
    plugins = build_plugins(scan_plugins(extra=[(TakesNothing(), "takesnothing")]))
    assert TakesNothing.called and "takesnothing" in plugins.names
    assert "synthetic" in plugins.feeds  # the others still ran


def test_a_later_plugin_overrides_a_builtin_and_adds_aliases() -> None:
    plugins = build_plugins(scan_plugins(extra=[(Override(), "override")]))
    assert plugins.strategy("bh").version == "9"
    assert plugins.strategy("buy_and_hold").fn is noop


@pytest.mark.parametrize("name", BUILTIN_PLUGINS)
def test_an_extra_plugin_under_a_builtin_name_is_refused(name: str) -> None:
    with pytest.raises(PluginError, match=f"'{name}'.*reserved") as err:
        scan_plugins(extra=[(Override(), name)])
    assert err.value.plugin == name


def test_an_entry_point_under_a_builtin_name_is_refused(
    sites: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(sites["squatter"]))
    with pytest.raises(PluginError, match="'strategies'.*reserved.*spark-squatter") as err:
        scan_plugins()
    assert err.value.plugin == "strategies"
    out = spark_cli(sites["squatter"], tmp_path, "plugins")
    assert out.returncode != 0 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("spark: error: plugin 'strategies'") and "reserved" in line and "spark-squatter" in line


def test_two_distributions_claiming_one_plugin_name_are_refused(
    sites: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(sites["twin_a"]))
    monkeypatch.syspath_prepend(str(sites["twin_b"]))
    with pytest.raises(PluginError, match="'twin'.*spark-twin-a.*spark-twin-b|'twin'.*spark-twin-b.*spark-twin-a"):
        scan_plugins()


def test_a_third_party_plugin_may_override_a_builtin_strategy(
    sites: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(sites["better"]))
    plugins = build_plugins()
    assert plugins.names[:3] == list(BUILTIN_PLUGINS) and "better_sma" in plugins.names
    assert plugins.strategy("sma_cross").version == "99"
    assert plugins.strategy("smaCross").version == "99"  # the built-in's alias now leads to the override


def test_run_backtest_builds_fresh_plugins_and_sees_a_new_install(
    sites: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    candles = build_plugins().feed("default").load({}, spark.FeedEnv(data_dir=Path("."), restricted=True))
    assert spark.run_backtest(candles).report.stats["total_trades"] > 0
    monkeypatch.syspath_prepend(str(sites["late"]))  # installed while this process runs
    result = spark.run_backtest(candles, strategy="late_arrival")
    assert result.metadata["strategy"] == {"name": "late_arrival", "version": "99"}


def test_installed_plugins_is_scanned_once_and_sees_a_plugin_installed_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from spark.plugin.manager import installed_plugins

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    first = installed_plugins()
    assert installed_plugins() is first  # kept: no rescan while nothing is installed
    with pytest.raises(UnknownPlugin):
        first.strategy("kept_late")
    install_plugin(
        tmp_path,
        "spark-kept-late",
        {"kept_late.py": STRATEGY_PLUGIN.format(name="kept_late")},
        {"kept_late": "kept_late"},
        site,
    )
    importlib.invalidate_caches()
    later = installed_plugins()
    assert later is not first and later.strategy("kept_late").name == "kept_late"
    candles = spark.load_candles(Path(spark.__file__).parents[1] / "plugins" / "data" / "GOOG.csv")
    assert spark.run_backtest(candles, "kept_late").metadata["strategy"]["name"] == "kept_late"
