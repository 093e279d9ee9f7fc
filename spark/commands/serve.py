"""``spark serve [--host H] [--port P]``: the service on 127.0.0.1:4001 by default.

Prints the URL once the socket is bound (with ``--port 0``, the real port: tests read it from stdout) and writes
the pid file ``<state dir>/spark.pid`` (`spark.ops.pidfile`; `spark status` and `spark reload` read it), then
serves until SIGINT or SIGTERM, which shut it down gracefully and remove the pid file (`spark.server.run_server`
handles the signals, SIGHUP included). A live server already owning the state dir's pid file: refused, exit 2.
Without ADMIN_TOKEN the service still serves reads; mutations answer 500 saying why. Log lines (one per request,
per run status change, per reload; `spark.logs`) go to stderr, as text on a terminal and JSON otherwise, or as
``--log-format`` says.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import trio

from spark import logs
from spark.config import Settings, load_settings
from spark.errors import InputError, SparkError
from spark.ops import pidfile

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the REST + SSE API, the dashboard and /metrics",
        description="Serve the REST + SSE API, the dashboard and /metrics until SIGINT or SIGTERM; SIGHUP (`spark "
        "reload`) reloads the configuration. Writes the pid file <state dir>/spark.pid (SPARK_STATE_DIR, default "
        ".spark) once listening, removes it on exit; refuses (exit 2) while a live server owns it.",
    )
    p.add_argument("--host", help="address to bind (default: Settings.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default: Settings.port, 4001)")
    p.add_argument("--show-token", action="store_true", help="print the admin token beside the URL (make run)")
    p.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        help="log lines on stderr as text or JSON, one object a line (default: text on a terminal, json otherwise)",
    )
    p.set_defaults(func=run)


def _urls(started: Any, settings: Settings) -> list[str]:
    if isinstance(started, str):
        return [started]
    if isinstance(started, list | tuple) and started:
        return [str(x) for x in started]
    return [f"http://{settings.host}:{settings.port}"]


async def _serve(settings: Settings, show_token: bool, pid_file: Path) -> None:
    from spark.server import run_server  # the system loads only for this command, not for every `spark` call

    claimed = False
    try:
        async with trio.open_nursery() as nursery:
            started = await nursery.start(run_server, settings)
            urls = _urls(started, settings)
            info = pidfile.ServerInfo(pid=os.getpid(), url=urls[0], started_at=int(time.time() * 1000))
            try:  # AlreadyServing, or a state dir we cannot write: the server stops, exit 2
                await trio.to_thread.run_sync(pidfile.claim, pid_file, info)
            except OSError as exc:
                raise InputError(f"cannot write the pid file {pid_file}: {exc}", field="state_dir") from None
            claimed = True
            _announce(settings, urls, show_token, pid_file)
    finally:
        if claimed:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(pidfile.release, pid_file, os.getpid())


def _announce(settings: Settings, urls: list[str], show_token: bool, pid_file: Path) -> None:
    print(f"Spark serving on {urls[0]}  (impl: {settings.impl})", flush=True)
    for url in urls[1:]:
        print(f"  also on {url}", flush=True)
    if not settings.admin_token:
        print("  mutations are refused: no ADMIN_TOKEN is set", flush=True)
    elif show_token:
        print(f"  admin token: {settings.admin_token}", flush=True)
    print(f"  pid {os.getpid()} in {pid_file}; `spark status`, `spark reload` (SIGHUP), Ctrl-C stops it", flush=True)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    if not 0 <= settings.port <= 65535:
        raise InputError(f"port must be from 0 to 65535, got {settings.port}", field="port")
    fmt = args.log_format or logs.default_format(sys.stderr)
    logs.configure(fmt, stream=sys.stderr, secrets=lambda: (settings.admin_token,))
    pid_file = pidfile.pid_path(settings.state_dir)
    owner = pidfile.live_owner(pid_file)
    if owner is not None:  # checked again, atomically, when the pid file is written
        raise pidfile.AlreadyServing(pidfile.already_serving(pid_file, owner))
    failure = ""
    try:
        trio.run(_serve, settings, bool(args.show_token), pid_file)
    except* OSError as group:  # the address is taken, or not ours to bind
        first = _leaf(group)
        failure = f"cannot serve on {settings.host}:{settings.port}: {getattr(first, 'strerror', None) or first}"
    except* SparkError as group:
        failure = str(getattr(_leaf(group), "message", _leaf(group)))
    if failure:
        print(f"spark: error: {failure}", file=sys.stderr, flush=True)
        return 2
    logging.getLogger("spark.server").info("Spark stopped", extra=logs.fields(event="stopped"))
    return 0


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
