"""``spark reload [--timeout S]``: make the server of this folder reload its configuration, and say what changed.

Reads ``/api/config``, sends SIGHUP to the pid in the pid file (`spark status` finds it the same way), waits
(bounded) until ``/api/config`` counts one more reload attempt, then prints each field that changed
(``writeEnabled: true -> false``). A configuration that does not load leaves the server on its old one: the
server's reason (``reloadError``) is printed and the exit code is 1. Exit 1 too when the server does not answer,
does not report the reload in time, or its pid file is stale; 2 when there is no server (no pid file).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import httpx

from spark.ops.control import Answer, client, config_changes, get_json, locate, parse_timeout, state_dir

__all__ = ["add_parser", "run"]

_POLL_S = 0.05


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reload",
        help="reload the running server's configuration (SIGHUP) and print what changed",
        description="Send SIGHUP to the server in this folder's pid file (<state dir>/spark.pid), wait until it "
        "reports the reload, and print what changed in /api/config. Exit 1 when the new configuration does not "
        "load (the server keeps the old one) or the server does not answer; 2 when no server runs here.",
    )
    p.add_argument("--timeout", type=parse_timeout, default=10.0, help="seconds to wait for the reload (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    located = locate(state_dir())
    if located is None:
        print(f"spark: error: no server: no pid file in {state_dir()} (`spark serve` writes it)", file=sys.stderr)
        return 2
    info = located.info
    if not located.running:
        print(
            f"spark: error: the server in {located.path} (pid {info.pid}) is not running: a stale pid file",
            file=sys.stderr,
        )
        return 1
    with client(info.url, min(args.timeout, 5.0)) as http:
        before = get_json(http, "/api/config")
        if not before.ok or not isinstance(before.doc.get("reloadAttempts"), int):
            problem = before.error or f"HTTP {before.status}"
            return _fail(f"the server at {info.url} (pid {info.pid}) does not report its configuration: {problem}")
        try:
            os.kill(info.pid, signal.SIGHUP)
        except OSError as exc:
            return _fail(f"cannot signal the server (pid {info.pid}): {exc.strerror or exc}")
        after = _await_reload(http, before.doc["reloadAttempts"], time.monotonic() + args.timeout)
    if after is None:
        return _fail(f"the server (pid {info.pid}) did not report the reload within {args.timeout:g} s")
    error = after.doc.get("reloadError")
    if error:
        return _fail(f"the new configuration does not load; the server keeps the old one: {error}")
    changes = config_changes(before.doc, after.doc)
    print(f"Spark (pid {info.pid}, {info.url}) reloaded its configuration (reload {after.doc.get('reloads')})")
    for line in changes or ["nothing changed"]:
        print(f"  {line}")
    return 0


def _await_reload(http: httpx.Client, attempts: int, deadline: float) -> Answer | None:
    """The first ``/api/config`` answer counting more than ``attempts`` reload attempts; None at ``deadline``."""
    while True:
        answer = get_json(http, "/api/config")
        if answer.ok and isinstance(answer.doc.get("reloadAttempts"), int) and answer.doc["reloadAttempts"] > attempts:
            return answer
        if time.monotonic() >= deadline:
            return None
        time.sleep(_POLL_S)


def _fail(message: str) -> int:
    print(f"spark: error: {message}", file=sys.stderr)
    return 1
