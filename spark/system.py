"""The running system: builds what settings imply (plugins, metrics, the run store, every channel), starts every
actor in one nursery and implements `spark.plugin.services.Services`, the only door the HTTP layer has to them.

    System ──Reserve/Submit/Cancel──> scheduler ──Launch/CancelRun──> simulator ──worker processes
      │  ▲                               │  ▲──────Progress/Finished──────┘
      │  └─ replies                      └──RunChanged──> broadcaster ──per-client channels──> subscribers
      └──AuditLine──> auditor ──> logs/audit/backtest_YYYYMMDD.log

Actors never start each other and nothing long-lived runs on the web framework's nursery. Closing the system stops
it in order: the scheduler records every queued or running run as failed, "interrupted" (the simulator kills their
workers), then the broadcaster ends every stream, then the auditor closes its file. Nothing in flight is lost.

`run_server` adds the HTTP server (Hypercorn) beside the system and turns signals into actions: SIGHUP reloads the
settings, SIGINT and SIGTERM stop everything gracefully.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import trio
import trio_parallel
from prometheus_client import CollectorRegistry

from spark.actors import auditor, broadcaster, scheduler, simulator, workers
from spark.actors.messages import (
    AuditLine,
    Cancel,
    Job,
    Release,
    Reply,
    Reserve,
    Runner,
    Submit,
    Subscribe,
    Unsubscribe,
    Wake,
)
from spark.api import create_app
from spark.api.server import serve_app
from spark.config import Settings, load_settings
from spark.errors import Conflict, NotFound, SparkError, Unavailable
from spark.ids import is_run_id, new_run_id
from spark.metrics import Metrics
from spark.plugin.manager import Plugins, build_plugins
from spark.plugin.request import RunRequest
from spark.plugin.services import Caller, Subscription
from spark.service.store import RunStore, wall_ms

__all__ = ["SHUTDOWN_GRACE_S", "System", "open_system", "run_server"]

log = logging.getLogger(__name__)

# Channel buffers, chosen on purpose: requests wait briefly for the scheduler rather than pile up; reports and
# changes get a little slack so a burst never stalls the actor sending them; launches hand over directly.
SCHEDULER_INBOX = 16
REPORTS_BUFFER = 16
LAUNCH_BUFFER = 0
BROADCAST_INBOX = 64
AUDIT_INBOX = 64
SHUTDOWN_GRACE_S = 10.0  # after this, a shutdown stops waiting and cancels what is left
WORKER_IDLE_S = 600.0  # an idle worker process lives this long, ready for the next run
WORKER_GRACE_S = 5.0  # at shutdown, idle workers get this long to exit before they are killed
UNAVAILABLE_RETRY_S = 5


class System:
    """Implements `spark.plugin.services.Services`. Built and started by `open_system`."""

    def __init__(
        self, *, settings: Settings, plugins: Plugins, metrics: Metrics, store: RunStore, now_ms: Callable[[], int]
    ) -> None:
        self._settings = settings
        self._plugins = plugins
        self.metrics = metrics
        self.store = store
        self.now_ms = now_ms
        self._alive: set[str] = set()
        self._closing = False
        self._to_scheduler: trio.MemorySendChannel | None = None
        self._to_broadcaster: trio.MemorySendChannel | None = None
        self._to_auditor: trio.MemorySendChannel | None = None
        self._scheduler_done = trio.Event()
        self._closed = trio.Event()
        self._scheduler_stats = scheduler.SchedulerStatistics()

    # --- configuration -----------------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def plugins(self) -> Plugins:
        return self._plugins

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    def plugin_enabled(self, name: str) -> bool:
        """Loaded, and not switched off by the settings in force now. The write plugin is always loaded, so that a
        SIGHUP can switch its routes back on."""
        return name not in self._settings.disabled_plugins and self._plugins.is_enabled(name)

    def reload(self, settings: Settings) -> None:
        """Swap the settings (SIGHUP): plugin switches, limits, queue size and mock delay act at once; folders,
        the plugin set and the SSE ring keep their start-up values. Runs and streams in flight go on."""
        self._settings = settings
        if self._to_scheduler is not None:
            # busy: it looks at the limits again on its next change; closing: nothing to wake
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                self._to_scheduler.send_nowait(Wake())

    def statistics(self) -> dict[str, int]:
        """Runs waiting (``queued``), starts being audited (``reserved``), worker slots in use (``executing``)."""
        return self._scheduler_stats.as_dict()

    def healthy(self) -> bool:
        return not self._closing and self._alive >= {"auditor", "broadcaster", "simulator", "scheduler"}

    # --- reads -------------------------------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        return self.store.folder

    def list_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.store.list(limit)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self.store.get(run_id)

    def get_result(self, run_id: str) -> dict[str, Any] | None:
        return self.store.result(run_id)

    def get_summary(self, run_id: str) -> dict[str, Any] | None:
        return self.store.summary(run_id)

    def get_equity(self, run_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        return self.store.equity(run_id)

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        return self.store.artifacts(run_id)

    def artifact_path(self, run_id: str, name: str) -> Path | None:
        return self.store.artifact_path(run_id, name)

    # --- mutations ---------------------------------------------------------------------------------------------

    async def audit(
        self, *, action: str, caller: Caller, run_id: str | None, payload: Any, success: bool, error: str | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "action": action,
            "ip": caller.ip,
            "user": caller.user,
            "id": run_id,
            "payload": payload,
            "success": success,
        }
        if error is not None:
            entry["error"] = error
        reply: Reply[None] = Reply()
        await self._send(self._to_auditor, AuditLine(entry=entry, reply=reply))
        await reply.wait()

    async def start(self, request: RunRequest, caller: Caller, payload: Any) -> dict[str, Any]:
        """Reserve a queue slot, audit, queue (module docstring of the scheduler). Shielded from cancellation (a
        client hanging up): once begun, a start ends audited and queued, or refused and released, never halfway.
        Each step waits only for the actors, which answer promptly or fail."""
        with trio.CancelScope(shield=True):
            return await self._start(request, caller, payload)

    async def _start(self, request: RunRequest, caller: Caller, payload: Any) -> dict[str, Any]:
        accepted = trio.current_time()
        reserved: Reply[None] = Reply()
        await self._send(self._to_scheduler, Reserve(reply=reserved))
        try:
            await reserved.wait()
        except Unavailable as exc:
            await self.audit(
                action="start", caller=caller, run_id=None, payload=payload, success=False, error=exc.message
            )
            raise
        started_at = self.now_ms()
        run_id = new_run_id(started_at)
        try:
            await self.audit(action="start", caller=caller, run_id=run_id, payload=payload, success=True)
        except BaseException:
            await self._send_quietly(Release())
            raise
        queued: Reply[dict[str, Any]] = Reply()
        job = Job(run_id=run_id, request=request, impl=self._settings.impl, started_at=started_at)
        await self._send(self._to_scheduler, Submit(job=job, accepted_at=accepted, reply=queued))
        return await queued.wait()

    async def cancel(self, run_id: str, caller: Caller) -> dict[str, Any]:
        """Audit, then cancel; shielded like `start`, so an audited cancel is always carried out."""
        with trio.CancelScope(shield=True):
            return await self._cancel(run_id, caller)

    async def _cancel(self, run_id: str, caller: Caller) -> dict[str, Any]:
        status = self.store.status(run_id) if is_run_id(run_id) else None
        error: SparkError | None = None
        if status is None:
            error = NotFound(f"no run {run_id}")
        elif status == "done":
            error = Conflict(f"run {run_id} is done; only queued or running runs can be cancelled")
        await self.audit(
            action="cancel",
            caller=caller,
            run_id=run_id,
            payload=None,
            success=error is None,
            error=None if error is None else error.message,
        )
        if error is not None:
            raise error
        answer: Reply[dict[str, Any]] = Reply()
        await self._send(self._to_scheduler, Cancel(run_id=run_id, reply=answer))
        return await answer.wait()

    @asynccontextmanager
    async def subscribe(self, last_event_id: int | None) -> AsyncIterator[Subscription]:
        reply: Reply[broadcaster.ClientStream] = Reply()
        await self._send(self._to_broadcaster, Subscribe(last_event_id=last_event_id, reply=reply))
        stream = await reply.wait()
        try:
            yield stream
        finally:
            stream.close()
            with trio.CancelScope(shield=True):
                await self._send_quietly(Unsubscribe(client_id=stream.client_id), self._to_broadcaster)

    # --- plumbing ----------------------------------------------------------------------------------------------

    async def _send(self, channel: trio.MemorySendChannel | None, message: Any) -> None:
        if channel is None or self._closing:
            raise Unavailable("the service is shutting down", retry_after=UNAVAILABLE_RETRY_S)
        try:
            await channel.send(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise Unavailable("the service is shutting down", retry_after=UNAVAILABLE_RETRY_S) from None

    async def _send_quietly(self, message: Any, channel: trio.MemorySendChannel | None = None) -> None:
        channel = self._to_scheduler if channel is None else channel
        if channel is None:
            return
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await channel.send(message)

    async def _actor(
        self,
        name: str,
        fn: Callable[..., Awaitable[None]],
        kwargs: Mapping[str, Any],
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self._alive.add(name)
        try:
            await fn(**kwargs, task_status=task_status)
        finally:
            self._alive.discard(name)
            if name == "scheduler":
                self._scheduler_done.set()

    async def _run(self, nursery: trio.Nursery, runners: Mapping[str, Runner], first_event_id: int) -> None:
        """Create every channel and start the actors, each ready before the next that talks to it."""
        to_scheduler, scheduler_inbox = trio.open_memory_channel[Any](SCHEDULER_INBOX)
        to_simulator, simulator_inbox = trio.open_memory_channel[Any](LAUNCH_BUFFER)
        reports, reports_inbox = trio.open_memory_channel[Any](REPORTS_BUFFER)
        to_broadcaster, broadcaster_inbox = trio.open_memory_channel[Any](BROADCAST_INBOX)
        to_auditor, auditor_inbox = trio.open_memory_channel[Any](AUDIT_INBOX)
        await nursery.start(
            self._actor,
            "auditor",
            auditor.run,
            {"inbox": auditor_inbox, "folder": self._settings.audit_dir, "secret": lambda: self._settings.admin_token},
        )
        await nursery.start(
            self._actor,
            "broadcaster",
            broadcaster.run,
            {
                "inbox": broadcaster_inbox,
                "snapshot_runs": lambda: self.store.list(None),
                "ring_size": self._settings.sse_ring_size,
                "max_clients": lambda: self._settings.sse_max_clients,
                "metrics": self.metrics,
                "first_id": first_event_id,
                "now_ms": self.now_ms,
            },
        )
        await nursery.start(
            self._actor, "simulator", simulator.run, {"inbox": simulator_inbox, "reports": reports, "runners": runners}
        )
        await nursery.start(
            self._actor,
            "scheduler",
            scheduler.run,
            {
                "inbox": scheduler_inbox,
                "reports": reports_inbox,
                "launch": to_simulator,
                "publish": to_broadcaster.clone(),
                "store": self.store,
                "metrics": self.metrics,
                "settings": lambda: self._settings,
                "now_ms": self.now_ms,
                "statistics": self._scheduler_stats,
            },
        )
        self._to_scheduler, self._to_broadcaster, self._to_auditor = to_scheduler, to_broadcaster, to_auditor

    async def aclose(self) -> None:
        """Stop in order (module docstring). A second call waits for the first to finish."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            if self._to_scheduler is not None:
                await self._to_scheduler.aclose()
                await self._scheduler_done.wait()
            for channel in (self._to_broadcaster, self._to_auditor):
                if channel is not None:
                    await channel.aclose()
        finally:
            self._closed.set()


@asynccontextmanager
async def open_system(
    settings: Settings,
    *,
    extra_plugins: Iterable[tuple[object, str]] = (),
    runners: Mapping[str, Runner] | None = None,
    now_ms: Callable[[], int] = wall_ms,
) -> AsyncIterator[System]:
    """A started system: every actor running, the run list rebuilt from evidence. On exit it shuts down in order
    (see `System.aclose`), waiting at most SHUTDOWN_GRACE_S. ``runners`` replaces the runner per impl (tests:
    a scripted runner at the process boundary); ``extra_plugins`` are (plugin, name) pairs registered after the
    built-ins (tests: throwaway strategies)."""
    extra = tuple(extra_plugins)
    context: trio_parallel.WorkerContext | None = None
    # The write plugin loads even when disabled, and is gated per request: a SIGHUP can switch it back on.
    plugins = build_plugins(disabled=[name for name in settings.disabled_plugins if name != "write"], extra=extra)
    metrics = Metrics()
    store, interrupted = await trio.to_thread.run_sync(RunStore.load, settings.evidence_dir, now_ms)
    if interrupted:
        log.warning("%d run(s) cut off by the last shutdown are now failed, interrupted", len(interrupted))
    system = System(settings=settings, plugins=plugins, metrics=metrics, store=store, now_ms=now_ms)
    async with contextlib.AsyncExitStack() as stack:
        if runners is None:
            context = await stack.enter_async_context(
                trio_parallel.open_worker_context(
                    idle_timeout=WORKER_IDLE_S, grace_period=WORKER_GRACE_S, init=workers.init_worker
                )
            )
            progress_dir = Path(await trio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="spark-progress-")))
            stack.push_async_callback(trio.to_thread.run_sync, shutil.rmtree, progress_dir, True)
            runners = {
                "mock": simulator.mock_runner(lambda: system.settings),
                "engine": workers.engine_runner(
                    lambda: system.settings,
                    evidence_dir=settings.evidence_dir,
                    progress_dir=progress_dir,
                    extra_plugins=extra,
                    context=context,
                ),
            }
        nursery = await stack.enter_async_context(trio.open_nursery())
        await system._run(nursery, runners, first_event_id=wall_ms())
        if context is not None and settings.impl == "engine":
            nursery.start_soon(_warm_up, context, settings, extra)
        try:
            yield system
        finally:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + SHUTDOWN_GRACE_S
                await system.aclose()
            nursery.cancel_scope.cancel()


async def _warm_up(
    context: trio_parallel.WorkerContext, settings: Settings, extra: tuple[tuple[object, str], ...]
) -> None:
    """Start one worker ahead of the first run (imports, plugins); a failure here only costs the first run time."""
    try:
        await context.run_sync(
            functools.partial(workers.warm_up, settings.disabled_plugins, extra), kill_on_cancel=True
        )
    except Exception as exc:
        log.warning("warming up a worker failed: %s", exc)


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
            async for signum in signals:
                if signum != signal.SIGHUP:
                    log.info("signal %s: stopping", signal.Signals(signum).name)
                    break
                try:
                    fresh = reload_settings()
                except SparkError as exc:
                    log.error("SIGHUP: the new configuration does not load, keeping the old one: %s", exc)
                    continue
                system.reload(fresh)
                log.info(
                    "SIGHUP: configuration reloaded (disabled plugins: %s)", ", ".join(fresh.disabled_plugins) or "none"
                )
            stop.set()
            with trio.move_on_after(SHUTDOWN_GRACE_S):
                await system.aclose()
