"""`run_server`: the system (`spark.system.open_system`) plus the HTTP server (Hypercorn), and the signals that
drive them: SIGHUP reloads the settings and rescans the plugins, SIGINT and SIGTERM stop everything gracefully
within SHUTDOWN_GRACE_S, and an actor that dies stops the server as SIGTERM would (then `open_system` raises it).
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Callable, Iterable

import trio

from spark.api import create_app
from spark.api.server import serve_app
from spark.config import Settings, load_settings
from spark.errors import SparkError
from spark.logs import fields
from spark.system import SHUTDOWN_GRACE_S, System, open_system

__all__ = ["run_server"]

log = logging.getLogger(__name__)


async def run_server(
    settings: Settings,
    *,
    extra_plugins: Iterable[tuple[object, str]] = (),
    reload_settings: Callable[[], Settings] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The service: the system plus the HTTP server on ``settings.host:port`` (0: a free port), until SIGINT or
    SIGTERM. ``task_status.started`` gets the bound URLs.

    SIGHUP reloads the settings (environment, then ./spark.toml; host and port stay as bound) with
    ``reload_settings``; a config that does not load is logged and the old one kept. SIGINT/SIGTERM stop
    gracefully within SHUTDOWN_GRACE_S: the server stops accepting, the system records every run in flight and ends
    every stream, the requests in flight get their answers within the server's graceful timeout (5 s), after which
    the connections left, such as SSE clients that stopped reading, are reset (`spark.api.server`).
    """

    def reload_default() -> Settings:
        return load_settings(host=settings.host, port=settings.port)

    reload_settings = reload_default if reload_settings is None else reload_settings
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with open_system(settings, extra_plugins=extra_plugins) as system, trio.open_nursery() as nursery:
            app = create_app(system)
            urls = await nursery.start(
                functools.partial(serve_app, app, host=settings.host, port=settings.port, shutdown_trigger=stop.wait)
            )
            task_status.started(urls)
            with trio.CancelScope() as serving:
                watcher = trio.CancelScope()
                nursery.start_soon(_stop_when_dead, system, serving, watcher)
                async for signum in signals:
                    if signum != signal.SIGHUP:
                        name = signal.Signals(signum).name
                        log.info("signal %s: stopping", name, extra=fields(event="stopping", signal=name))
                        break
                    try:
                        changes = await system.reload(reload_settings())
                    except SparkError as exc:
                        log.error(
                            "SIGHUP: the new configuration does not load, keeping the old one: %s",
                            exc,
                            extra=fields(event="reload", outcome="failed", error=exc.message),
                        )
                        system.reload_failed(exc.message)
                        continue
                    log.info(
                        "SIGHUP: configuration reloaded: %s",
                        "; ".join(changes) or "nothing changed",
                        extra=fields(event="reload", outcome="ok", changes=changes),
                    )
            watcher.cancel()
            stop.set()
            with trio.move_on_after(SHUTDOWN_GRACE_S):
                await system.aclose()


async def _stop_when_dead(system: System, serving: trio.CancelScope, watcher: trio.CancelScope) -> None:
    """An actor died: stop serving as for SIGTERM; `open_system` then raises the failure."""
    with watcher:
        await system.died.wait()
        log.critical("stopping: %s", system.failure)
        serving.cancel()
