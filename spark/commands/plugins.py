"""``spark plugins``: the loaded plugins, their strategies and feeds with declared parameters."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from spark.config import load_settings
from spark.engine import Param
from spark.plugin.manager import build_plugins, scan_plugins

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list plugins, strategies and feeds with their parameters")
    p.add_argument("--json", action="store_true", help='print {"plugins", "strategies", "feeds"} as JSON')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    plugins = build_plugins(scan_plugins(settings.disabled_plugins))
    if args.json:
        doc = {
            "plugins": plugins.names,
            "disabled": list(settings.disabled_plugins),
            "strategies": [s.to_json() for s in plugins.strategies.values()],
            "feeds": [f.to_json() for f in plugins.feeds.values()],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    lines = ["plugins: " + (", ".join(plugins.names) or "none")]
    if settings.disabled_plugins:
        lines.append("disabled: " + ", ".join(settings.disabled_plugins))
    lines += ["", "strategies:"]
    for spec in plugins.strategies.values():
        aliases = f" (alias {', '.join(spec.aliases)})" if spec.aliases else ""
        lines.append(f"  {spec.name} v{spec.version}{aliases}: {spec.help}")
        lines += [_param(p) for p in spec.params]
    lines += ["", "feeds:"]
    for feed in plugins.feeds.values():
        lines.append(f"  {feed.name}: {feed.help}")
        lines += [_param(p) for p in feed.params]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _param(p: Param) -> str:
    bounds = ""
    if p.min is not None or p.max is not None:
        bounds = f" in [{_fmt(p.min) if p.min is not None else '-inf'}, {_fmt(p.max) if p.max is not None else 'inf'}]"
    if p.choices:
        bounds = f" one of {', '.join(p.choices)}"
    default = "none" if p.default is None else repr(p.default) if p.type == "str" else _fmt(p.default)
    return f"    {p.name} ({p.type}, default {default}{bounds}): {p.help}"


def _fmt(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
