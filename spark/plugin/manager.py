"""Builds the plugin manager: built-ins and third-party plugins from the entry-point group ``spark``, minus the
ones config disables, behind a typed facade (`Plugins`) that validates what each plugin registers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from spark.engine.strategy import StrategySpec
from spark.errors import PluginError, UnknownPlugin
from spark.plugin import hookspecs
from spark.plugin.feeds import FeedSpec

__all__ = ["BUILTIN_PLUGINS", "Plugins", "build_plugins"]

# Core features ship as plugins; they load first so that any other plugin can override what they register.
BUILTIN_PLUGINS = ("strategies", "feeds", "write")


class Plugins:
    """A typed view of a plugin manager: strategies and feeds by name (aliases resolved), route registration."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.strategies: dict[str, StrategySpec] = {}
        self.feeds: dict[str, FeedSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in self._collect("register_strategies", StrategySpec):
            self.strategies[spec.name] = spec
            for alias in spec.aliases:
                self._aliases[alias] = spec.name
        for spec in self._collect("register_feeds", FeedSpec):
            self.feeds[spec.name] = spec

    @property
    def names(self) -> list[str]:
        """Names of the loaded plugins, in load order."""
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def is_enabled(self, name: str) -> bool:
        return self.pm.has_plugin(name)

    def strategy(self, name: str) -> StrategySpec:
        """The strategy called ``name`` (or an alias of it); UnknownPlugin naming the field otherwise."""
        spec = self.strategies.get(self._aliases.get(name, name))
        if spec is None:
            known = ", ".join(sorted(self.strategies)) or "none"
            raise UnknownPlugin(f"unknown strategy {name!r} (known: {known})", field="strategy")
        return spec

    def feed(self, name: str) -> FeedSpec:
        spec = self.feeds.get(name)
        if spec is None:
            known = ", ".join(sorted(self.feeds)) or "none"
            raise UnknownPlugin(f"unknown feed {name!r} (known: {known})", field="feed.name")
        return spec

    def call_each(self, hook: str, make_kwargs: Callable[[str], dict[str, Any]]) -> None:
        """Call ``hook`` through pluggy once per implementing plugin, in load order (so a later plugin's
        registration overrides an earlier one's), with ``make_kwargs(plugin_name)``; pluggy hands each
        implementation only the arguments it names. A plugin's error is re-raised as PluginError naming it."""
        impls = getattr(self.pm.hook, hook).get_hookimpls()  # registration order
        for impl in impls:
            only = self.pm.subset_hook_caller(hook, remove_plugins=[o.plugin for o in impls if o is not impl])
            try:
                only(**make_kwargs(impl.plugin_name))
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(impl.plugin_name, exc) from exc

    def _collect(self, hook: str, kind: type) -> list[Any]:
        found: list[Any] = []

        def make_kwargs(plugin_name: str) -> dict[str, Any]:
            def register(spec: Any) -> None:
                if not isinstance(spec, kind):
                    raise PluginError(
                        plugin_name, TypeError(f"{hook} expects {kind.__name__}, got {type(spec).__name__}")
                    )
                found.append(spec)

            return {"register": register}

        self.call_each(hook, make_kwargs)
        return found


def build_plugins(disabled: Iterable[str] = (), extra: Iterable[tuple[object, str]] = ()) -> Plugins:
    """A fresh manager: built-ins first, then other entry points, then ``extra`` (plugin, name) pairs (tests).

    Names in ``disabled`` are blocked before anything loads. Unknown hooks in a plugin fail here
    (``check_pending``), not at first use.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    eps = sorted(
        entry_points(group=hookspecs.PROJECT),
        key=lambda ep: (
            ep.name not in BUILTIN_PLUGINS,
            BUILTIN_PLUGINS.index(ep.name) if ep.name in BUILTIN_PLUGINS else 0,
            ep.name,
        ),
    )
    for ep in eps:
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(ep.name, exc) from exc
        pm.register(plugin, name=ep.name)
    for plugin, name in extra:
        if not pm.is_blocked(name):
            pm.register(plugin, name=name)
    pm.check_pending()
    return Plugins(pm)
