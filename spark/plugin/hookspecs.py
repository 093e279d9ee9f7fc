"""Every hook a Spark plugin can implement (pluggy project name ``spark``); docs/plugins.md is the author's guide.

A plugin is a module or object with functions marked ``@hookimpl``, installed through the entry-point group
``spark`` (``[project.entry-points.spark] myname = "mypkg.spark_plugin"``). Each hook is handed a ``register``
callable: the host validates what the plugin hands it and wraps a plugin's errors with the plugin's name. pluggy
passes arguments by name, so an implementation may take only the ones it needs (``register_routes(register)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from spark.engine.strategy import StrategySpec
from spark.plugin.feeds import FeedSpec

if TYPE_CHECKING:  # quart is the HTTP layer's; services imports the manager, which imports this module
    from quart import Blueprint

    from spark.plugin.services import Services

__all__ = ["PROJECT", "hookimpl", "hookspec", "register_feeds", "register_routes", "register_strategies"]

PROJECT = "spark"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_strategies(register: Callable[[StrategySpec], None]) -> None:
    """Add strategies: call ``register(StrategySpec(...))`` once per strategy.

    A later plugin registering a name that an earlier one used replaces it (built-ins load first), so a plugin can
    override a built-in strategy. The spec's ``fn`` must be a module-level function: runs go to worker processes.
    """


@hookspec
def register_feeds(register: Callable[[FeedSpec], None]) -> None:
    """Add data feeds: call ``register(FeedSpec(...))`` once per feed; same override rule as strategies."""


@hookspec
def register_routes(register: Callable[[Blueprint], None], services: Services) -> None:
    """Add HTTP routes to the service: call ``register(blueprint)`` with a Quart blueprint.

    ``services`` is the running system's facade (`spark.plugin.services.Services`): the only way a plugin reaches
    the run store, the scheduler, the auditor and the settings. Routes are built once; a plugin that config
    switches off at run time (SIGHUP) must have its routes check ``services.plugin_enabled(name)`` per request.
    """
