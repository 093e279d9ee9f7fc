"""Every hook in `spark.plugin.hookspecs` is typed and documented in docs/plugins.md (as datasette checks its
own): the hooks are found by introspection, so a new hook without a section in the guide fails here."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
from quart import Blueprint

import spark
from spark.engine.strategy import StrategySpec
from spark.plugin import hookspecs
from spark.plugin.feeds import FeedSpec
from spark.plugin.manager import BUILTIN_PLUGINS
from spark.plugin.services import Services

GUIDE = Path(__file__).parents[2] / "docs" / "plugins.md"


def hook_specs() -> dict[str, Callable[..., object]]:
    """The functions pluggy's ``hookspec`` marker has marked in the spec module."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, marker)}


HOOKS = sorted(hook_specs())


def documented() -> dict[str, str]:
    """``### name(arguments)`` headings of the guide: hook name -> arguments as written."""
    return dict(re.findall(r"^### (\w+)\(([^)]*)\)\s*$", GUIDE.read_text(encoding="utf-8"), flags=re.M))


def test_the_hooks_are_found_by_introspection() -> None:
    assert {"register_strategies", "register_feeds", "register_routes"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_in_the_plugin_guide(hook: str) -> None:
    arguments = ", ".join(inspect.signature(hook_specs()[hook]).parameters)
    headings = documented()
    assert hook in headings, f"docs/plugins.md has no section '### {hook}({arguments})'"
    assert headings[hook] == arguments, (
        f"docs/plugins.md documents {hook}({headings[hook]}), the spec takes ({arguments})"
    )


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    assert set(documented()) <= set(HOOKS)


def test_the_guide_names_the_entry_point_group_and_the_reserved_names() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert f"[project.entry-points.{hookspecs.PROJECT}]" in text
    for name in BUILTIN_PLUGINS:
        assert f"`{name}`" in text, name


def test_hooks_are_typed_with_the_contracts_they_hand_over() -> None:
    names = {"Blueprint": Blueprint, "Services": Services, "StrategySpec": StrategySpec, "FeedSpec": FeedSpec}
    hints = {hook: typing.get_type_hints(fn, localns=names) for hook, fn in hook_specs().items()}
    assert hints["register_strategies"] == {"register": Callable[[StrategySpec], None], "return": type(None)}
    assert hints["register_feeds"] == {"register": Callable[[FeedSpec], None], "return": type(None)}
    assert hints["register_routes"] == {
        "register": Callable[[Blueprint], None],
        "services": Services,
        "return": type(None),
    }
    for hook, fn in hook_specs().items():
        assert inspect.getdoc(fn), hook
        assert all(hint is not typing.Any for hint in hints[hook].values()), hook


def test_the_markers_are_the_public_ones() -> None:
    assert spark.hookimpl is hookspecs.hookimpl
    assert hookspecs.PROJECT == "spark"
