"""``spark status [--url URL] [--json] [--timeout S]``: is the server of this folder up, and how is it configured?

Finds the server through the pid file in the state dir (`SPARK_STATE_DIR`, default ``.spark``; `spark serve`
writes it), or takes ``--url``, and prints its ``/health`` and ``/api/config``: readable ``key: value`` lines, or
with ``--json`` one document ``{url, pid, startedAt, healthy, health, config}`` holding the two raw answers.
Exit 0 when healthy; 1 when the server does not answer, answers unhealthy, or its pid file is stale; 2 when there
is no server (no pid file).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from spark.ops.control import (
    Answer,
    client,
    config_lines,
    get_json,
    iso_ms,
    locate,
    parse_timeout,
    parse_url,
    state_dir,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="show the running server's /health and /api/config (exit 0 healthy, 1 unhealthy, 2 no server)",
        description="Find the server of this folder through its pid file (<state dir>/spark.pid) and show its "
        "/health and /api/config. Exit 0 when healthy, 1 when not answering, unhealthy or stale, 2 when no "
        "server runs here.",
    )
    p.add_argument("--url", help="ask the server at this base URL instead of the one in the pid file")
    p.add_argument("--json", action="store_true", help="print {url, pid, startedAt, healthy, health, config} as JSON")
    p.add_argument("--timeout", type=parse_timeout, default=5.0, help="seconds to wait for each answer (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pid: int | None = None
    started_at: int | None = None
    if args.url:
        url = parse_url(args.url)
    else:
        located = locate(state_dir())
        if located is None:
            print(f"spark: error: no server: no pid file in {state_dir()} (`spark serve` writes it)", file=sys.stderr)
            return 2
        if not located.running:
            print(
                f"spark: error: the server in {located.path} (pid {located.info.pid}, {located.info.url}) is not "
                "running: a stale pid file (the server was killed?)",
                file=sys.stderr,
            )
            return 1
        url, pid, started_at = located.info.url, located.info.pid, located.info.started_at
    with client(url, args.timeout) as http:
        health = get_json(http, "/health")
        config = get_json(http, "/api/config") if health.status is not None else health
    healthy = health.ok and health.doc.get("status") == "ok" and config.ok
    if args.json:
        doc = {
            "url": url,
            "pid": pid,
            "startedAt": started_at,
            "healthy": healthy,
            "health": health.doc,
            "config": config.doc,
        }
        print(json.dumps(doc, indent=2))
    else:
        since = f", started {iso_ms(started_at)}" if started_at is not None else ""
        print(f"Spark at {url}" + (f" (pid {pid}{since})" if pid is not None else ""))
        print(f"health: {_health_text(health)}")
        if config.ok:
            print("\n".join(config_lines(config.doc)))
        elif config is not health:
            print(f"config: {_problem(config)}")
    return 0 if healthy else 1


def _health_text(health: Answer) -> str:
    if health.ok and health.doc.get("status") == "ok":
        return "ok"
    return _problem(health)


def _problem(answer: Answer) -> str:
    if answer.error is not None:
        return answer.error
    doc: Any = answer.doc
    message = doc.get("message") if isinstance(doc, dict) else None
    state = doc.get("status") if isinstance(doc, dict) else None
    return f"{state or 'unhealthy'} (HTTP {answer.status})" + (f": {message}" if message else "")
