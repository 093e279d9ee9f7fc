"""Built-in data feeds."""

from __future__ import annotations

from collections.abc import Callable

from spark import FeedSpec, hookimpl


@hookimpl
def register_feeds(register: Callable[[FeedSpec], None]) -> None:
    """Feeds are added by the engine issue's feed work."""
