"""Builds plugin managers: built-ins and third-party plugins from the entry-point group ``spark``, minus the ones
config disables, behind a typed facade (`Plugins`) that validates what each plugin registers.

Building is two steps, so a worker process does not rescan what the server already found: `scan_plugins` reads
the installed entry points once into a `PluginSet` (plain, picklable), and `build_plugins` loads exactly that set
into a fresh pluggy manager (Python caches the imports, so a rebuild costs little). Each system and each worker
run builds its own; only `installed_plugins`, the default of the Python API's calls that are given no plugins,
keeps one at module level (rebuilt when the import path or its site-packages folders change).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from spark.engine.strategy import StrategySpec
from spark.errors import PluginError, UnknownPlugin
from spark.plugin import hookspecs
from spark.plugin.feeds import FeedSpec

__all__ = ["BUILTIN_PLUGINS", "PluginSet", "Plugins", "build_plugins", "installed_plugins", "scan_plugins"]

# Core features ship as plugins; they load first so that any other plugin can override what they register. Their
# names are reserved: only Spark's own entry points (module ``spark_plugins.<name>``) may use them.
BUILTIN_PLUGINS = ("strategies", "feeds", "write")
_BUILTIN_VALUES = {name: f"spark_plugins.{name}" for name in BUILTIN_PLUGINS}


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginSet:
    """What one entry-point scan found, as plain values a worker process can receive.

    ``entry_points``: (name, "module:attr") pairs in load order (built-ins first, then by name); ``disabled``:
    names blocked when a manager is built; ``extra``: (plugin, name) pairs registered after the entry points
    (tests register throwaway plugins this way; they must be importable in a worker to cross into one).
    """

    entry_points: tuple[tuple[str, str], ...] = ()
    disabled: tuple[str, ...] = ()
    extra: tuple[tuple[object, str], ...] = ()


def scan_plugins(disabled: Iterable[str] = (), extra: Iterable[tuple[object, str]] = ()) -> PluginSet:
    """Read the installed entry points of group ``spark`` once. Raises PluginError naming a plugin that claims
    a reserved built-in name, or a name two distributions declare differently."""
    found: dict[str, tuple[str, str]] = {}  # name -> (value, distribution)
    for ep in entry_points(group=hookspecs.PROJECT):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        if ep.name in _BUILTIN_VALUES and ep.value != _BUILTIN_VALUES[ep.name]:
            raise _reserved(ep.name, f"the entry point '{ep.name} = {ep.value}' of distribution {dist!r}")
        if ep.name in found and found[ep.name][0] != ep.value:
            other_value, other_dist = found[ep.name]
            raise PluginError(
                ep.name,
                ValueError(
                    f"two entry points share the name: '{ep.name} = {other_value}' ({other_dist}) and "
                    f"'{ep.name} = {ep.value}' ({dist}); one must be renamed or uninstalled"
                ),
            )
        found.setdefault(ep.name, (ep.value, dist))
    extra = tuple(extra)
    for _, name in extra:
        if name in _BUILTIN_VALUES:
            raise _reserved(name, "a plugin registered in code")
    order = sorted(found, key=lambda n: (BUILTIN_PLUGINS.index(n) if n in _BUILTIN_VALUES else len(BUILTIN_PLUGINS), n))
    return PluginSet(
        entry_points=tuple((name, found[name][0]) for name in order),
        disabled=tuple(dict.fromkeys(disabled)),
        extra=extra,
    )


_INSTALLED: tuple[tuple[tuple[str, int | None], ...], Plugins] | None = None


def installed_plugins() -> Plugins:
    """`build_plugins()` of every installed plugin, kept while the import path's folders are unchanged.

    The entry-point scan reads every distribution's metadata (milliseconds: more than a small backtest costs);
    installing or removing a distribution changes its site-packages folder (and a new folder on ``sys.path`` is
    a new key), so a new plugin is seen on the next call. Used where a caller gives no ``plugins``
    (`spark.run_backtest`, `spark.run_sweep`)."""
    global _INSTALLED
    key = _path_key()
    if _INSTALLED is None or _INSTALLED[0] != key:
        _INSTALLED = (key, build_plugins())
    return _INSTALLED[1]


def _path_key() -> tuple[tuple[str, int | None], ...]:
    """The import path, with the modification time of its site-packages folders (where an install writes its
    ``*.dist-info``): a few microseconds, against a scan's milliseconds."""
    out = []
    for entry in sys.path:
        stamp = None
        if entry.endswith(("site-packages", "dist-packages")):
            with contextlib.suppress(OSError):
                stamp = os.stat(entry).st_mtime_ns
        out.append((entry, stamp))
    return tuple(out)


def build_plugins(plugin_set: PluginSet | None = None) -> Plugins:
    """A fresh manager holding exactly ``plugin_set`` (None: scan the installed entry points now).

    Disabled names are blocked before anything loads. A plugin that fails to import, implements an unknown hook
    or asks a hook for an argument it does not have fails here, named (``check_pending``), not at first use.
    """
    plugin_set = scan_plugins() if plugin_set is None else plugin_set
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in plugin_set.disabled:
        pm.set_blocked(name)
    for name, value in plugin_set.entry_points:
        if pm.is_blocked(name):
            continue
        try:
            plugin = EntryPoint(name=name, value=value, group=hookspecs.PROJECT).load()
        except Exception as exc:
            raise PluginError(name, exc) from exc
        _register(pm, plugin, name)
    for plugin, name in plugin_set.extra:
        if not pm.is_blocked(name):
            _register(pm, plugin, name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise _invalid(pm.get_name(exc.plugin) or repr(exc.plugin), exc) from exc
    return Plugins(pm, plugin_set)


class Plugins:
    """A typed view of a plugin manager: strategies and feeds by name (aliases resolved), hook calls per plugin.
    ``plugin_set`` is what it was built from: hand it to a worker process to build the same plugins there."""

    def __init__(self, pm: pluggy.PluginManager, plugin_set: PluginSet) -> None:
        self.pm = pm
        self.plugin_set = plugin_set
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


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise _invalid(name, exc) from exc


def _invalid(name: str, exc: Exception) -> PluginError:
    """pluggy's validation messages span lines; errors here are one line (the CLI prints them as they are)."""
    return PluginError(name, ValueError("; ".join(line.strip() for line in str(exc).splitlines() if line.strip())))


def _reserved(name: str, what: str) -> PluginError:
    builtins = ", ".join(BUILTIN_PLUGINS)
    return PluginError(
        name,
        ValueError(
            f"{name!r} is reserved for a built-in Spark plugin ({builtins}): {what} is refused; "
            "give the plugin another name (its strategies and feeds may still replace the built-in ones)"
        ),
    )
