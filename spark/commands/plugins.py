"""``spark plugins``: the loaded plugins, their strategies and feeds with declared parameters."""

from __future__ import annotations

import argparse

from spark.config import load_settings
from spark.plugins import build_plugins


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list plugins, strategies and feeds with their parameters")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plugins = build_plugins(load_settings().disabled_plugins)
    print("plugins: " + ", ".join(plugins.names))
    for spec in plugins.strategies.values():
        print(f"strategy {spec.name}: {spec.help}")
    for feed in plugins.feeds.values():
        print(f"feed {feed.name}: {feed.help}")
    return 0
