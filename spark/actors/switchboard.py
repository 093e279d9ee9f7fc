"""The System's plumbing, mixed into `spark.system.System`: a channel to each actor, the actors started in order
(each ready before the next that talks to it) and supervised, questions sent and their answers awaited, and the stop
in order (`Switchboard.aclose`).

An actor that raises is logged (CRITICAL), every question still open is answered Unavailable, ``died`` is set and
``failure`` holds an ActorDied that `spark.system.open_system` raises on exit. The System provides the state it
declares below (its ``__init__`` sets it) and ``snapshot`` (`spark.service.views.RunViews`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from spark.actors import auditor, broadcaster, live, registry, scheduler, simulator, sweeps
from spark.actors.messages import Reply, Runner, Stop
from spark.config import Settings
from spark.errors import SparkError, Unavailable
from spark.metrics import Metrics
from spark.plugin.manager import Plugins
from spark.service.changestore import ChangeStore
from spark.service.store import RunStore

__all__ = ["UNAVAILABLE_RETRY_S", "ActorDied", "Switchboard"]

log = logging.getLogger(__name__)

# Channel buffers, chosen on purpose: requests wait briefly for the scheduler rather than pile up; reports and
# changes get a little slack so a burst never stalls the actor sending them; launches hand over directly.
SCHEDULER_INBOX = 16
LAUNCH_BUFFER = 0
BROADCAST_INBOX = 64
AUDIT_INBOX = 64
REGISTRY_INBOX = 8
LIVE_INBOX = 8
SWEEPS_INBOX = 8
UNAVAILABLE_RETRY_S = 5


class ActorDied(SparkError):
    """An actor of the system raised: a bug. The system stopped; the process should exit non-zero."""


class Switchboard:
    _settings: Settings
    _plugins: Plugins
    _changes: ChangeStore
    store: RunStore
    metrics: Metrics
    now_ms: Callable[[], int]
    _alive: set[str]
    _closing: bool
    _to_scheduler: trio.MemorySendChannel | None
    _to_broadcaster: trio.MemorySendChannel | None
    _to_auditor: trio.MemorySendChannel | None
    _to_registry: trio.MemorySendChannel | None
    _to_live: trio.MemorySendChannel | None
    _to_sweeps: trio.MemorySendChannel | None
    _live_board: live.LiveBoard
    _sweep_board: sweeps.SweepBoard
    _scheduler_stats: scheduler.SchedulerStatistics
    _scheduler_done: trio.Event
    _sweeps_done: trio.Event
    _closed: trio.Event
    _open_questions: set[Reply[Any]]
    died: trio.Event
    failure: BaseException | None

    snapshot: Callable[[], dict[str, Any]]  # RunViews' (an annotation only: the mixin later in the MRO provides it)
    plugin_generation: Callable[[], Any]  # System's

    async def _send(self, channel: trio.MemorySendChannel | None, message: Any) -> None:
        if channel is None or self._closing:
            raise Unavailable("the service is shutting down", retry_after=UNAVAILABLE_RETRY_S)
        try:
            await channel.send(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise Unavailable("the service is shutting down", retry_after=UNAVAILABLE_RETRY_S) from None

    async def _ask(self, channel: trio.MemorySendChannel | None, message: Any, reply: Reply[Any]) -> Any:
        """Send a request to an actor and wait for its answer. Should an actor die meanwhile, every question still
        open is answered Unavailable: a request never waits on an actor that is gone."""
        self._open_questions.add(reply)
        try:
            if self.died.is_set():
                raise Unavailable("the service is stopping: an actor died", retry_after=UNAVAILABLE_RETRY_S)
            await self._send(channel, message)
            return await reply.wait()
        finally:
            self._open_questions.discard(reply)

    async def _send_quietly(self, message: Any, channel: trio.MemorySendChannel | None) -> None:
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
        """Run one actor; if it raises, record the failure and stop the system (never a process alive but deaf)."""
        self._alive.add(name)
        try:
            await fn(**kwargs, task_status=task_status)
        except Exception as exc:
            cause = exc
            while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
                cause = cause.exceptions[0]
            log.critical("actor %s died, stopping the service: %s: %s", name, type(cause).__name__, cause, exc_info=exc)
            if self.failure is None:
                self.failure = ActorDied(f"actor {name} died: {type(cause).__name__}: {cause}")
                self.failure.__cause__ = exc
            self.died.set()
            gone = Unavailable("the service is stopping: an actor died", retry_after=UNAVAILABLE_RETRY_S)
            for reply in list(self._open_questions):
                reply.fail(gone)
        finally:
            self._alive.discard(name)
            if name == "scheduler":
                self._scheduler_done.set()
            if name == "sweeps":
                self._sweeps_done.set()

    async def _run(self, nursery: trio.Nursery, runners: Mapping[str, Runner], first_event_id: int) -> None:
        """Create every channel and start the actors, each ready before the next that talks to it."""
        to_scheduler, scheduler_inbox = trio.open_memory_channel[Any](SCHEDULER_INBOX)
        to_simulator, simulator_inbox = trio.open_memory_channel[Any](LAUNCH_BUFFER)
        to_broadcaster, broadcaster_inbox = trio.open_memory_channel[Any](BROADCAST_INBOX)
        to_auditor, auditor_inbox = trio.open_memory_channel[Any](AUDIT_INBOX)
        to_registry, registry_inbox = trio.open_memory_channel[Any](REGISTRY_INBOX)
        to_live, live_inbox = trio.open_memory_channel[Any](LIVE_INBOX)
        to_sweeps, sweeps_inbox = trio.open_memory_channel[Any](SWEEPS_INBOX)
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
                "snapshot": self.snapshot,
                "ring_size": self._settings.sse_ring_size,
                "max_clients": lambda: self._settings.sse_max_clients,
                "metrics": self.metrics,
                "first_id": first_event_id,
                "now_ms": self.now_ms,
            },
        )
        await nursery.start(
            self._actor,
            "simulator",
            simulator.run,
            {"inbox": simulator_inbox, "reports": to_scheduler.clone(), "runners": runners},
        )
        await nursery.start(
            self._actor,
            "scheduler",
            scheduler.run,
            {
                "inbox": scheduler_inbox,
                "to_self": to_scheduler.clone(),
                "launch": to_simulator,
                "publish": to_broadcaster.clone(),
                "audit": to_auditor.clone(),
                "store": self.store,
                "metrics": self.metrics,
                "settings": lambda: self._settings,
                "plugins": self.plugin_generation,
                "protected": self._changes.names,
                "now_ms": self.now_ms,
                "statistics": self._scheduler_stats,
            },
        )
        await nursery.start(
            self._actor,
            "registry",
            registry.run,
            {
                "inbox": registry_inbox,
                "audit": to_auditor.clone(),
                "publish": to_broadcaster.clone(),
                "store": self._changes,
                "settings": lambda: self._settings,
                "metrics": self.metrics,
                "now_ms": self.now_ms,
            },
        )
        await nursery.start(
            self._actor,
            "live",
            live.run,
            {
                "inbox": live_inbox,
                "audit": to_auditor.clone(),
                "publish": to_broadcaster.clone(),
                "board": self._live_board,
                "settings": lambda: self._settings,
                "plugins": lambda: self._plugins,
                "active_set": self._changes.active,
                "metrics": self.metrics,
                "now_ms": self.now_ms,
            },
        )
        await nursery.start(
            self._actor,
            "sweeps",
            sweeps.run,
            {
                "inbox": sweeps_inbox,
                "audit": to_auditor.clone(),
                "publish": to_broadcaster.clone(),
                "board": self._sweep_board,
                "settings": lambda: self._settings,
                "plugins": lambda: self._plugins,
                "metrics": self.metrics,
                "now_ms": self.now_ms,
            },
        )
        self._to_scheduler, self._to_broadcaster, self._to_auditor = to_scheduler, to_broadcaster, to_auditor
        self._to_registry, self._to_live, self._to_sweeps = to_registry, to_live, to_sweeps

    async def aclose(self) -> None:
        """Stop in order (module docstring). A second call waits for the first to finish."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            if self._to_scheduler is not None:
                with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                    await self._to_scheduler.send(Stop())
                await self._to_scheduler.aclose()
                await self._scheduler_done.wait()
            for channel in (self._to_registry, self._to_live, self._to_sweeps, self._to_broadcaster, self._to_auditor):
                if channel is not None:
                    await channel.aclose()
            if self._to_sweeps is not None:
                await self._sweeps_done.wait()
        finally:
            self._closed.set()
