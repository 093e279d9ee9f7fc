"""The scheduler: one loop, the single owner of run state and the one decider of starts, cancels and deletes.

Everything reaches it through one inbox, in order: requests from the system (Start, Cancel, Delete, Wake, Stop),
the simulator's reports (Progress, Finished) and the outcome of its own writes (Committed). Nothing else changes a
run, so no two decisions ever interleave. A delete is decided and audited like a cancel (done or failed runs only).

**Decide, write, then answer.** A start is decided here (refused when the queue is full or the service is
stopping; else accepted with a new id and a slot held). The accepted run's record is written to disk, then the
verdict is audited (fsync); only then is the run queued, published and the client answered. If the record cannot
be written the verdict becomes a refusal (audited as one, answered 503); if the audit cannot be written nothing
happens (the record is taken back) and the client gets 503. A refusal is audited before it is answered. A cancel is
decided the same way: the verdict is audited first, and only then carried out, so an audit line never claims what
did not happen (`spark.actors.verdicts` does the writing). While a cancel is audited its run is not launched, and a
report that it finished is held: a run cancelled before its launch never starts; one cancelled while running is
killed; either way it leaves no result files (a run that ends failed never does).

Every status change goes, in order, to the run store (memory at once, disk in the background with per-run
ordering), to the metrics, the log and the broadcaster (`spark.actors.run_changes`). Statuses: queued -> running
-> done | failed. On Stop every queued or running run ends failed, "interrupted", the simulator is told to stop (its
inbox closes), and the scheduler returns once its pending writes and the simulator's last reports are in.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from spark.actors.messages import (
    Cancel,
    CancelRun,
    Committed,
    Delete,
    Finished,
    Job,
    Launch,
    Progress,
    RunDeleted,
    Start,
    Stop,
    Wake,
)
from spark.actors.run_changes import RunChanges
from spark.actors.verdicts import RecordBatch, Verdicts, cancelled_answer
from spark.config import Settings
from spark.errors import Conflict, NotFound, SparkError, Unavailable
from spark.ids import new_run_id, wall_ms
from spark.metrics import Metrics
from spark.plugin.manager import PluginSet
from spark.service.record import PluginsUsed, RunRecord
from spark.service.store import RunStore, new_record

__all__ = ["PROGRESS_EVERY_S", "QUEUE_FULL_RETRY_S", "SchedulerStatistics", "run"]

log = logging.getLogger(__name__)

QUEUE_FULL_RETRY_S = 5  # Retry-After when the queue is full
PROGRESS_EVERY_S = 0.25  # a run's progress is published at most this often


@dataclass(slots=True)
class SchedulerStatistics:
    """What is worth inspecting, kept current by the scheduler: runs waiting, starts being written and audited,
    runs whose worker is still going (a cancelled run counts until its worker is gone)."""

    queued: int = 0
    reserved: int = 0
    executing: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"queued": self.queued, "reserved": self.reserved, "executing": self.executing}


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A start decided but not yet written and audited: it holds a queue slot."""

    job: Job
    record: RunRecord
    request: Start


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    to_self: trio.MemorySendChannel,
    launch: trio.MemorySendChannel,
    publish: trio.MemorySendChannel,
    audit: trio.MemorySendChannel,
    store: RunStore,
    metrics: Metrics,
    settings: Callable[[], Settings],
    plugins: Callable[[], tuple[PluginsUsed, PluginSet] | None] = lambda: None,
    protected: Callable[[str], bool] = lambda run_id: False,
    now_ms: Callable[[], int] = wall_ms,
    statistics: SchedulerStatistics | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` until Stop (or until every sender is gone); see the module docstring. ``to_self``: a send
    side of ``inbox`` for its write tasks; ``audit``: the auditor's inbox; ``settings``: read at each decision."""
    async with publish, launch, inbox, to_self, audit, trio.open_nursery() as nursery:
        state = _Scheduler(
            store=store,
            metrics=metrics,
            settings=settings,
            plugins=plugins,
            protected=protected,
            now_ms=now_ms,
            launch=launch,
            publish=publish,
            audit=audit,
            to_self=to_self,
            nursery=nursery,
            statistics=statistics or SchedulerStatistics(),
        )
        await nursery.start(state.records.run)
        task_status.started()
        async for message in inbox:
            await state.handle(message)
            if state.finished():
                break
        await state.stop()  # if every sender went away without a Stop
        state.records.close()


class _Scheduler:
    def __init__(
        self,
        *,
        store: RunStore,
        metrics: Metrics,
        settings: Callable[[], Settings],
        plugins: Callable[[], tuple[PluginsUsed, PluginSet] | None],
        protected: Callable[[str], bool],
        now_ms: Callable[[], int],
        launch: trio.MemorySendChannel,
        publish: trio.MemorySendChannel,
        audit: trio.MemorySendChannel,
        to_self: trio.MemorySendChannel,
        nursery: trio.Nursery,
        statistics: SchedulerStatistics,
    ) -> None:
        self.store, self.metrics, self.settings, self.now_ms, self.plugins = store, metrics, settings, now_ms, plugins
        self.launch, self.publish, self.to_self, self.protected = launch, publish, to_self, protected
        self.records = RecordBatch(store)
        self.verdicts = Verdicts(store, audit, self.records)
        self.nursery, self.statistics = nursery, statistics
        self.queue: deque[Job] = deque()
        self.accepted: dict[str, _Accepted] = {}  # starts being written and audited
        self.cancelling: Counter[str] = Counter()  # run id -> cancel verdicts being audited
        self.held: dict[str, Finished] = {}  # finished while a cancel of it was being audited
        self.deleting: set[str] = set()  # deletes being audited
        self.executing: dict[str, float] = {}  # run id -> trio time it started; until its worker is gone
        self.progress_sent: dict[str, float] = {}  # run id -> trio time its progress was last published
        self.changes = RunChanges(
            store=store,
            metrics=metrics,
            verdicts=self.verdicts,
            publish=publish,
            nursery=nursery,
            executing=self.executing,
            now_ms=now_ms,
        )
        self.end, self.change = self.changes.end, self.changes.change
        self.artifacts_run = metrics.artifacts.labels(type="run")  # looked up once: every start counts one
        self.closing = False
        self.launch_open = True

    # --- the loop ----------------------------------------------------------------------------------------------

    async def handle(self, message: Any) -> None:
        try:
            if isinstance(message, Start):
                self.decide_start(message)
            elif isinstance(message, Cancel):
                self.decide_cancel(message)
            elif isinstance(message, Committed):
                committed = {"start": self.started, "cancel": self.cancelled, "delete": self.deleted}
                await committed[message.kind](message)
            elif isinstance(message, Delete):
                self.decide_delete(message)
            elif isinstance(message, Progress):
                await self.progress(message)
            elif isinstance(message, Finished):
                await self.finished_report(message)
            elif isinstance(message, Wake):
                await self.dispatch()
            elif isinstance(message, Stop):
                await self.stop()
            else:  # a programming error: loud on purpose (the system goes down, see spark.system)
                raise TypeError(f"scheduler: unexpected message {message!r}")
        finally:
            self.statistics.queued, self.statistics.reserved = len(self.queue), len(self.accepted)
            self.statistics.executing = len(self.executing)
            self.metrics.queue_depth.set(len(self.queue))

    def finished(self) -> bool:
        """Stopping, and nothing this actor started is still going: no write pending, no worker alive."""
        return self.closing and not self.accepted and not self.cancelling and not self.executing and not self.deleting

    # --- starts ------------------------------------------------------------------------------------------------

    def decide_start(self, message: Start) -> None:
        settings = self.settings()
        refusal = None
        if self.closing:
            refusal = Unavailable("the service is shutting down", retry_after=QUEUE_FULL_RETRY_S)
        elif len(self.queue) + len(self.accepted) >= settings.queue_size:
            refusal = Unavailable("the run queue is full, try again later", retry_after=QUEUE_FULL_RETRY_S)
        if refusal is not None:
            self.nursery.start_soon(
                self.verdicts.refuse, "start", message.caller, None, message.payload, message.reply, refusal
            )
            return
        started_at = self.now_ms()
        run_id = new_run_id(started_at)
        while run_id in self.store or run_id in self.accepted:  # pragma: no cover - 2**-32 a millisecond
            run_id = new_run_id(started_at)
        used, plugin_set = self.plugins() or (None, None)
        job = Job(run_id=run_id, request=message.request, impl=settings.impl, started_at=started_at, plugins=plugin_set)
        record = new_record(run_id, message.request, impl=settings.impl, started_at=started_at, plugins=used)
        self.accepted[run_id] = _Accepted(job=job, record=record, request=message)
        self.nursery.start_soon(self._commit_start, record, message)

    async def _commit_start(self, record: RunRecord, message: Start) -> None:
        error = await self.verdicts.start(record, message)
        await self.to_self.send(Committed(kind="start", run_id=record.id, reply=message.reply, error=error))

    async def started(self, message: Committed) -> None:
        accepted = self.accepted.pop(message.run_id)
        if message.error is not None:
            message.reply.fail(message.error)
            return
        record = accepted.record
        await self.changes.queued(record)
        self.artifacts_run.inc()
        self.metrics.enqueue_latency.observe(trio.current_time() - accepted.request.accepted_at)
        message.reply.set({"id": record.id, "status": "queued", "startedAt": record.started_at})
        if self.closing:
            await self.end(record.id, error="interrupted")
        else:
            self.queue.append(accepted.job)
            await self.dispatch()

    # --- cancels -----------------------------------------------------------------------------------------------

    def decide_cancel(self, message: Cancel) -> None:
        run_id, status = message.run_id, self.store.status(message.run_id)
        refusal: SparkError | None = None
        if status is None:
            refusal = NotFound(f"no run {run_id}")
        elif status == "done":
            refusal = Conflict(f"run {run_id} is done; only queued or running runs can be cancelled")
        if refusal is not None:
            self.nursery.start_soon(
                self.verdicts.refuse, "cancel", message.caller, run_id, None, message.reply, refusal
            )
        elif status == "failed" and not self.cancelling[run_id]:
            self.nursery.start_soon(self.verdicts.unchanged, message)  # idempotent: nothing changes
        else:
            self.cancelling[run_id] += 1
            self.nursery.start_soon(self._commit_cancel, message)

    async def _commit_cancel(self, message: Cancel) -> None:
        error = await self.verdicts.cancel(message)
        await self.to_self.send(Committed(kind="cancel", run_id=message.run_id, reply=message.reply, error=error))

    async def cancelled(self, message: Committed) -> None:
        run_id = message.run_id
        self.cancelling[run_id] -= 1
        if self.cancelling[run_id] <= 0:
            del self.cancelling[run_id]
        if message.error is not None:
            message.reply.fail(message.error)
            if run_id not in self.cancelling and run_id in self.held:
                await self.apply_finished(self.held.pop(run_id))
            await self.dispatch()
            return
        status = self.store.status(run_id)
        if status == "queued":
            self.queue = deque(job for job in self.queue if job.run_id != run_id)
        elif status == "running" and run_id not in self.held and self.launch_open:
            await self.launch.send(CancelRun(run_id=run_id))
        version = None
        if status in ("queued", "running"):
            self.metrics.runs_cancelled.inc()  # a user's cancel: still a "failed" run, but no failure of Spark's
            version = await self.end(run_id, error="cancelled")
        if run_id in self.held:  # it finished while the cancel was audited: the cancel wins
            await self.apply_finished(self.held.pop(run_id))
        if version is None:
            message.reply.set(cancelled_answer(run_id))
        else:
            self.nursery.start_soon(self.verdicts.flush_then_answer, run_id, version, message.reply)
        await self.dispatch()

    # --- deletes ------------------------------------------------------------------------------------------------

    def decide_delete(self, message: Delete) -> None:
        run_id, status = message.run_id, self.store.status(message.run_id)
        refusal: SparkError | None = None
        if status is None:
            refusal = NotFound(f"no run {run_id}")
        elif status in ("queued", "running") or self.cancelling[run_id] or run_id in self.deleting:
            refusal = Conflict(f"run {run_id} is {status}: only done or failed runs can be deleted")
        elif self.protected(run_id):
            refusal = Conflict(f"run {run_id} is evidence of a change request: it is kept")
        if refusal is not None:
            self.nursery.start_soon(
                self.verdicts.refuse, "delete", message.caller, run_id, None, message.reply, refusal
            )
            return
        self.deleting.add(run_id)
        self.nursery.start_soon(self._commit_delete, message)

    async def _commit_delete(self, message: Delete) -> None:
        error = await self.verdicts.delete(message)
        await self.to_self.send(Committed(kind="delete", run_id=message.run_id, reply=message.reply, error=error))

    async def deleted(self, message: Committed) -> None:
        run_id = message.run_id
        self.deleting.discard(run_id)
        if message.error is not None:
            message.reply.fail(message.error)
            return
        self.store.remove(run_id)
        await self.publish.send(RunDeleted(run_id=run_id))
        self.nursery.start_soon(self.verdicts.remove_run, run_id, message.reply)

    # --- running -----------------------------------------------------------------------------------------------

    async def dispatch(self) -> None:
        """Launch queued runs while slots are free; a run whose cancel is being audited waits."""
        while not self.closing and len(self.executing) < self.settings().max_concurrent:
            job = next((job for job in self.queue if job.run_id not in self.cancelling), None)
            if job is None:
                return
            self.queue.remove(job)
            self.executing[job.run_id] = trio.current_time()
            self.metrics.active_runs.inc()
            await self.change(job.run_id, status="running", progress=0.0)
            await self.launch.send(Launch(job=job))

    async def progress(self, report: Progress) -> None:
        """Progress is kept at once but published at most every PROGRESS_EVERY_S per run (each published event
        goes to every stream client); status changes always go out, with the latest progress in them. The market
        of the candles, once known, replaces the request's (and is written)."""
        record = self.store.get(report.run_id)
        if record is None or record.status != "running":
            return
        market = record.market_changes(report.pair, report.timeframe, report.bars)
        now = trio.current_time()
        last = self.progress_sent.get(report.run_id)
        if not market and last is not None and now - last < PROGRESS_EVERY_S:
            self.store.update(report.run_id, progress=report.progress)
            return
        self.progress_sent[report.run_id] = now
        await self.change(report.run_id, persist=bool(market), progress=report.progress, **market)

    async def finished_report(self, report: Finished) -> None:
        if self.cancelling[report.run_id]:
            self.held[report.run_id] = report  # decided after the cancel's audit
            return
        await self.apply_finished(report)
        await self.dispatch()

    async def apply_finished(self, report: Finished) -> None:
        run_id, outcome = report.run_id, report.outcome
        self.progress_sent.pop(run_id, None)
        record = self.store.get(run_id)
        if record is not None and record.status == "running":
            market = record.market_changes(outcome.pair, outcome.timeframe, outcome.bars)
            await self.end(run_id, error=report.error, stats=outcome.stats, **market)
        self.executing.pop(run_id, None)
        if report.error is None and self.store.status(run_id) == "done":
            for kind in outcome.artifacts:
                self.metrics.artifacts.labels(type=kind).inc()
            for gate, count in outcome.denials:
                self.metrics.guardrail_denials.labels(gate=gate).inc(count)
            return
        # ended failed (cancelled, interrupted, an error): whatever its worker wrote is not a result
        self.nursery.start_soon(self.verdicts.remove_results, run_id)

    async def stop(self) -> None:
        """Every queued or running run ends failed, "interrupted"; the simulator is told to stop."""
        if not self.closing:
            self.closing = True
            while self.queue:
                await self.end(self.queue.popleft().run_id, error="interrupted")
            for run_id in list(self.executing):
                if self.store.status(run_id) == "running":
                    await self.end(run_id, error="interrupted")
        if self.launch_open:
            self.launch_open = False
            await self.launch.aclose()
