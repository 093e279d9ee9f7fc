"""The running system: builds what settings imply (plugins, metrics, the run store, every channel), starts every
actor in one nursery and implements `spark.plugin.services.Services`, the only door the HTTP layer has to them.

    System ──Start/Cancel/Stop──> scheduler ──Launch/CancelRun──> simulator ──worker processes
      │  ▲                        │ ▲ ▲ └──Progress/Finished (into the scheduler's inbox)──┘
      │  └─ verdicts (replies)    │ │ └──Committed (its own writes, into its inbox)
      │                           │ └──AuditLine (every start/cancel/delete verdict, before its answer)┐
      │                           └──RunChanged──> broadcaster ──per-client channels──> subscribers   │
      └──AuditLine (refusals the HTTP layer decides)──> auditor ──> logs/audit/backtest_YYYYMMDD.log <┘

Actors never start each other and nothing long-lived runs on the web framework's nursery. Closing the system stops
it in order: the scheduler records every queued or running run as failed, "interrupted" (the simulator kills their
workers), the sweeps actor stops its sweeps and records them so too, then the broadcaster ends every stream,
then the auditor closes its file. Nothing in flight is lost.

An actor that dies (a bug) is not survived quietly: it is logged, `healthy()` turns false at once, the system
stops what it can, and `open_system` re-raises the error as ActorDied, so `spark serve` exits non-zero and a
supervisor restarts it. A process alive but deaf is the one outcome ruled out.

`spark.server.run_server` adds the HTTP server (Hypercorn) beside the system and turns signals into actions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio
from prometheus_client import CollectorRegistry

from spark.actors import broadcaster, live, retention, scheduler, simulator, sweeps, workers
from spark.actors.desk import ChangeDesk
from spark.actors.live_desk import LiveDesk
from spark.actors.messages import (
    AuditLine,
    Cancel,
    Delete,
    Reply,
    Runner,
    Start,
    Subscribe,
    Unsubscribe,
)
from spark.actors.reloads import Reloads, plugins_for, users_for
from spark.actors.sweep_desk import SweepDesk
from spark.actors.switchboard import ActorDied, Switchboard
from spark.config import Settings
from spark.ids import wall_ms
from spark.metrics import Metrics
from spark.plugin.manager import Plugins, PluginSet
from spark.plugin.request import RunRequest, settings_gates
from spark.plugin.services import Caller, Identity, ReloadStatus, Subscription
from spark.service import report
from spark.service.changestore import ChangeStore
from spark.service.record import PluginsUsed
from spark.service.store import RunStore
from spark.service.views import RunViews

__all__ = ["SHUTDOWN_GRACE_S", "ActorDied", "System", "open_system"]

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10.0  # after this, a shutdown stops waiting and cancels what is left


class System(Switchboard, RunViews, ChangeDesk, LiveDesk, SweepDesk, Reloads):
    """Implements `spark.plugin.services.Services` (its reads in `spark.service.views.RunViews`; its channels and
    actors in `spark.actors.switchboard.Switchboard`, first in line so its ``_ask`` is the one the desks call).
    Built and started by `open_system`."""

    def __init__(
        self,
        *,
        settings: Settings,
        plugins: Plugins,
        metrics: Metrics,
        store: RunStore,
        now_ms: Callable[[], int],
        changes: ChangeStore | None = None,
    ) -> None:
        self._settings = settings
        self._plugins = plugins
        self._users = users_for(settings)
        self._generation = 1
        self.metrics = metrics
        self.metrics.worker_slots.set(settings.max_concurrent)
        self.store = store
        self.now_ms = now_ms
        self._alive: set[str] = set()
        self._closing = False
        self._to_scheduler: trio.MemorySendChannel | None = None
        self._to_broadcaster: trio.MemorySendChannel | None = None
        self._to_auditor: trio.MemorySendChannel | None = None
        self._to_registry: trio.MemorySendChannel | None = None
        self._to_live: trio.MemorySendChannel | None = None
        self._live_board = live.LiveBoard()
        self._to_sweeps: trio.MemorySendChannel | None = None
        self._sweep_board = sweeps.SweepBoard()
        self._changes = changes if changes is not None else ChangeStore(settings.evidence_dir)
        self._scheduler_done = trio.Event()
        self._sweeps_done = trio.Event()  # the sweeps actor records its running sweeps interrupted before it ends
        self._closed = trio.Event()
        self.died = trio.Event()  # set when an actor raised; `failure` holds what
        self.failure: BaseException | None = None
        self._candles = report.CandleCache()  # the price pane's last runs (candles re-read from their feed)
        self._curves = report.CandleCache()  # the equity pane's last done runs (series with their benchmark)
        self._open_questions: set[Reply[Any]] = set()  # replies awaited now (failed at once if an actor dies)
        self._scheduler_stats = scheduler.SchedulerStatistics()
        self._reload_status = ReloadStatus()

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

    def plugin_generation(self) -> tuple[PluginsUsed, PluginSet]:
        """The plugin generation in force: what a run accepted now records and its worker builds. Reloads that
        change the plugin set start a new generation; the API and the workers always use the same one."""
        return PluginsUsed(generation=self._generation, names=tuple(self._plugins.names)), self._plugins.plugin_set

    def user_for(self, token: bytes) -> Identity | None:
        user = self._users.find(token)
        return None if user is None else Identity(name=user.name, role=user.role)

    @property
    def users_configured(self) -> bool:
        return self._users.configured

    def plugin_enabled(self, name: str) -> bool:
        """Loaded, and not switched off by the settings in force now. The write plugin is always loaded, so that a
        SIGHUP can switch its routes back on."""
        return name not in self._settings.disabled_plugins and self._plugins.is_enabled(name)

    def statistics(self) -> dict[str, int]:
        """Runs waiting (``queued``), starts being written and audited (``reserved``), worker slots in use
        (``executing``)."""
        return self._scheduler_stats.as_dict()

    def healthy(self) -> bool:
        return (
            not self._closing
            and not self.died.is_set()
            and self._alive >= {"auditor", "broadcaster", "simulator", "scheduler", "registry", "live", "sweeps"}
        )

    # --- mutations ---------------------------------------------------------------------------------------------

    async def audit(
        self, *, action: str, caller: Caller, run_id: str | None, payload: Any, success: bool, error: str | None = None
    ) -> None:
        """One line for an attempt the HTTP layer refused itself (auth, rate limit, bad input)."""
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
        await self._ask(self._to_auditor, AuditLine(entry=entry, reply=reply), reply)

    async def start(self, request: RunRequest, caller: Caller, payload: Any) -> dict[str, Any]:
        """Ask the scheduler to start a run and wait for its written verdict (`spark.actors.scheduler`). Shielded
        from cancellation (a client hanging up): a start once asked ends decided, written and answered, never
        halfway. The scheduler answers every request it takes, also while it stops."""
        with trio.CancelScope(shield=True):
            reply: Reply[dict[str, Any]] = Reply()
            message = Start(
                request=request, caller=caller, payload=payload, accepted_at=trio.current_time(), reply=reply
            )
            return await self._ask(self._to_scheduler, message, reply)

    async def cancel(self, run_id: str, caller: Caller) -> dict[str, Any]:
        """Ask the scheduler to cancel a run and wait for its written verdict; shielded like `start`."""
        with trio.CancelScope(shield=True):
            reply: Reply[dict[str, Any]] = Reply()
            return await self._ask(self._to_scheduler, Cancel(run_id=run_id, caller=caller, reply=reply), reply)

    async def delete(self, run_id: str, caller: Caller) -> dict[str, Any]:
        """Ask the scheduler to delete a done or failed run and its evidence; shielded like `start`."""
        with trio.CancelScope(shield=True):
            reply: Reply[dict[str, Any]] = Reply()
            return await self._ask(self._to_scheduler, Delete(run_id=run_id, caller=caller, reply=reply), reply)

    @asynccontextmanager
    async def subscribe(self, last_event_id: int | None) -> AsyncIterator[Subscription]:
        reply: Reply[broadcaster.ClientStream] = Reply()
        stream = await self._ask(self._to_broadcaster, Subscribe(last_event_id=last_event_id, reply=reply), reply)
        try:
            yield stream
        finally:
            stream.close()
            with trio.CancelScope(shield=True):
                await self._send_quietly(Unsubscribe(client_id=stream.client_id), self._to_broadcaster)


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
    settings_gates(settings.risk_gates)  # default risk gates that are not valid gates stop the start, named
    # The write plugin loads even when disabled, and is gated per request: a SIGHUP can switch it back on.
    plugins = await trio.to_thread.run_sync(plugins_for, settings, extra)
    metrics = Metrics()
    store, interrupted = await trio.to_thread.run_sync(RunStore.load, settings.evidence_dir, now_ms)
    changes = await trio.to_thread.run_sync(ChangeStore.load, settings.evidence_dir, settings.audit_dir)
    if interrupted:
        log.warning("%d run(s) cut off by the last shutdown are now failed, interrupted", len(interrupted))
    system = System(settings=settings, plugins=plugins, metrics=metrics, store=store, now_ms=now_ms, changes=changes)
    async with contextlib.AsyncExitStack() as stack:
        if runners is None:
            engine = await stack.enter_async_context(
                workers.open_engine_tier(
                    lambda: system.settings,
                    evidence_dir=settings.evidence_dir,
                    plugin_set=lambda: system.plugins.plugin_set,
                    warm=settings.impl == "engine",
                )
            )
            runners = {"mock": simulator.mock_runner(lambda: system.settings), "engine": engine}
        nursery = await stack.enter_async_context(trio.open_nursery())
        await system._run(nursery, runners, first_event_id=wall_ms())
        nursery.start_soon(
            retention.run,
            lambda: system.settings,
            system.store.records,
            lambda run_id: system.delete(run_id, retention.RETENTION),
            now_ms,
        )
        try:
            yield system
        finally:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + SHUTDOWN_GRACE_S
                await system.aclose()
            nursery.cancel_scope.cancel()
    if system.failure is not None:
        raise system.failure
