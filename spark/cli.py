"""The ``spark`` command: one subcommand per job. Bad input prints one line and exits non-zero."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spark.errors import SparkError

__all__ = ["main"]


def _cmd_plugins(args: argparse.Namespace) -> int:
    from spark.config import load_settings
    from spark.plugins import build_plugins

    plugins = build_plugins(load_settings().disabled_plugins)
    print("plugins: " + ", ".join(plugins.names))
    for spec in plugins.strategies.values():
        print(f"strategy {spec.name}: {spec.help}")
    for feed in plugins.feeds.values():
        print(f"feed {feed.name}: {feed.help}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark", description="Backtests of trading strategies.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("plugins", help="list strategies and feeds with their parameters")
    p.set_defaults(func=_cmd_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SparkError as exc:
        print(f"spark: error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
