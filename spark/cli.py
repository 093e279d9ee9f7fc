"""The ``spark`` command: one subcommand per module in `COMMANDS`. Bad input prints one line, exits non-zero.

Each command module exposes ``add_parser(subparsers)``, which adds its parser and sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from spark.errors import SparkError

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = (
    "spark.commands.backtest",
    "spark.commands.plugins",
    "spark.commands.backup",
    "spark.commands.restore",
    "spark.commands.audit",
    "spark.commands.loadtest",
    "spark.commands.serve",
    "spark.commands.prune",
    "spark.commands.users",
    "spark.commands.status",
    "spark.commands.reload",
    "spark.commands.sweep",
    "spark.commands.walkforward",
    "spark.commands.live",
    "spark.commands.data",
    "spark.commands.dev",
    "spark.commands.report",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spark", description="Deterministic backtests of trading strategies.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SparkError as exc:
        print(f"spark: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
