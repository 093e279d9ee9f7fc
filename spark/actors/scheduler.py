"""The scheduler: the one owner of run state. A bounded queue of runs, at most ``max_concurrent`` of them executing.

It takes requests from the system (reserve a slot, submit, cancel), launches jobs on the simulator and follows its
reports (progress, finished). Every status change goes, in order, to the run store (memory at once, disk in the
background with per-run ordering), to the metrics and to the broadcaster. Statuses: queued -> running -> done |
failed; a cancel ends a run failed, "cancelled" (a second cancel changes nothing; a done run is a Conflict).

When its inbox closes (shutdown) every queued or running run is recorded failed, "interrupted"; then it closes the
simulator's inbox, follows the simulator's last reports until that closes, waits for the pending disk writes and
closes the broadcaster's inbox.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from spark.actors.messages import (
    Cancel,
    CancelRun,
    Finished,
    Job,
    Launch,
    Progress,
    Release,
    Reserve,
    RunChanged,
    Submit,
    Wake,
)
from spark.config import Settings
from spark.errors import Conflict, NotFound, Unavailable
from spark.metrics import Metrics
from spark.service.store import RunStore, new_record, wall_ms

__all__ = ["PROGRESS_EVERY_S", "QUEUE_FULL_RETRY_S", "SchedulerStatistics", "run"]

log = logging.getLogger(__name__)

QUEUE_FULL_RETRY_S = 5  # Retry-After when the queue is full
PROGRESS_EVERY_S = 0.25  # a run's progress is published at most this often


class SchedulerStatistics:
    """What is worth inspecting, kept current by the scheduler: runs waiting, slots held for starts being audited,
    runs whose worker is still going (a cancelled run counts until its worker is gone)."""

    __slots__ = ("executing", "queued", "reserved")

    def __init__(self) -> None:
        self.queued = self.reserved = self.executing = 0

    def as_dict(self) -> dict[str, int]:
        return {"queued": self.queued, "reserved": self.reserved, "executing": self.executing}


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    reports: trio.MemoryReceiveChannel,
    launch: trio.MemorySendChannel,
    publish: trio.MemorySendChannel,
    store: RunStore,
    metrics: Metrics,
    settings: Callable[[], Settings],
    now_ms: Callable[[], int] = wall_ms,
    statistics: SchedulerStatistics | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` (Reserve, Release, Submit, Cancel, Wake) and ``reports`` (Progress, Finished) until the inbox
    closes; see the module docstring for the shutdown order. ``settings`` is read at each decision (SIGHUP)."""
    async with publish, reports, launch, inbox, trio.open_nursery() as nursery:
        state = _Scheduler(
            store=store,
            metrics=metrics,
            settings=settings,
            now_ms=now_ms,
            launch=launch,
            publish=publish,
            nursery=nursery,
            statistics=statistics or SchedulerStatistics(),
        )
        nursery.start_soon(state.follow, reports)
        task_status.started()
        async for message in inbox:
            await state.handle(message)
        await state.interrupt_all()
        await launch.aclose()


class _Scheduler:
    def __init__(
        self,
        *,
        store: RunStore,
        metrics: Metrics,
        settings: Callable[[], Settings],
        now_ms: Callable[[], int],
        launch: trio.MemorySendChannel,
        publish: trio.MemorySendChannel,
        nursery: trio.Nursery,
        statistics: SchedulerStatistics,
    ) -> None:
        self.store, self.metrics, self.settings, self.now_ms = store, metrics, settings, now_ms
        self.statistics = statistics
        self.launch, self.publish, self.nursery = launch, publish, nursery
        self.queue: deque[Job] = deque()
        self.reserved = 0
        self.executing: dict[str, float] = {}  # run id -> trio time it started; until its worker is gone
        self.progress_sent: dict[str, float] = {}  # run id -> trio time its progress was last published
        self.closing = False

    async def handle(self, message: Any) -> None:
        try:
            await self._handle(message)
        finally:
            self.count()

    def count(self) -> None:
        self.statistics.queued, self.statistics.reserved = len(self.queue), self.reserved
        self.statistics.executing = len(self.executing)

    async def _handle(self, message: Any) -> None:
        if isinstance(message, Reserve):
            if self.closing or len(self.queue) + self.reserved >= self.settings().queue_size:
                message.reply.fail(
                    Unavailable("the run queue is full, try again later", retry_after=QUEUE_FULL_RETRY_S)
                )
            else:
                self.reserved += 1
                message.reply.set(None)
        elif isinstance(message, Release):
            self.reserved = max(0, self.reserved - 1)
        elif isinstance(message, Submit):
            self.reserved = max(0, self.reserved - 1)
            job = message.job
            record = new_record(job.run_id, job.request, impl=job.impl, started_at=job.started_at)
            version = self.store.put(record)
            self.metrics.runs_total.labels(status="queued").inc()
            self.queue.append(job)
            self.nursery.start_soon(self._persist, job.run_id, version, message)
            await self.publish.send(RunChanged(record=record))
            await self.dispatch()
        elif isinstance(message, Cancel):
            await self.cancel(message)
        elif isinstance(message, Wake):
            await self.dispatch()
        else:  # pragma: no cover - a programming error, loud on purpose
            raise TypeError(f"scheduler: unexpected message {message!r}")

    async def cancel(self, message: Cancel) -> None:
        run_id = message.run_id
        status = self.store.status(run_id)
        answer = {"ok": True, "id": run_id, "status": "failed"}
        if status is None:
            message.reply.fail(NotFound(f"no run {run_id}"))
        elif status == "done":
            message.reply.fail(Conflict(f"run {run_id} is done; only queued or running runs can be cancelled"))
        elif status == "failed":
            message.reply.set(answer)  # idempotent: nothing changes
        else:
            if status == "queued":
                self.queue = deque(job for job in self.queue if job.run_id != run_id)
            else:
                await self.launch.send(CancelRun(run_id=run_id))
            version = await self.end(run_id, error="cancelled")
            self.nursery.start_soon(self._persist_then_answer, run_id, version, message.reply, answer)

    async def dispatch(self) -> None:
        """Start queued runs while slots are free."""
        while self.queue and not self.closing and len(self.executing) < self.settings().max_concurrent:
            job = self.queue.popleft()
            self.executing[job.run_id] = trio.current_time()
            self.metrics.active_runs.inc()
            await self.change(job.run_id, status="running", progress=0.0)
            await self.launch.send(Launch(job=job))

    async def follow(self, reports: trio.MemoryReceiveChannel) -> None:
        """Apply the simulator's reports until it closes its side."""
        async for report in reports:
            status = self.store.status(report.run_id)
            if isinstance(report, Progress):
                if status == "running":
                    await self.progress(report.run_id, report.progress)
            elif isinstance(report, Finished):
                if status == "running":
                    if report.error is None:
                        await self.end(report.run_id, stats=report.outcome.stats)
                    else:
                        await self.end(report.run_id, error=report.error)
                self.progress_sent.pop(report.run_id, None)
                for kind in report.outcome.artifacts:
                    self.metrics.artifacts.labels(type=kind).inc()
                self.executing.pop(report.run_id, None)
                await self.dispatch()
            self.count()

    async def progress(self, run_id: str, value: float) -> None:
        """Progress is kept at once but published at most every PROGRESS_EVERY_S per run (each published event
        goes to every stream client); status changes always go out, with the latest progress in them."""
        now = trio.current_time()
        last = self.progress_sent.get(run_id)
        if last is not None and now - last < PROGRESS_EVERY_S:
            self.store.update(run_id, progress=value)
            return
        self.progress_sent[run_id] = now
        await self.change(run_id, persist=False, progress=value)

    async def interrupt_all(self) -> None:
        """Shutdown: every queued or running run ends failed, "interrupted"."""
        self.closing = True
        while self.queue:
            await self.end(self.queue.popleft().run_id, error="interrupted")
        for run_id in list(self.executing):
            if self.store.status(run_id) == "running":
                await self.end(run_id, error="interrupted")

    async def end(self, run_id: str, *, error: str | None = None, stats: dict[str, Any] | None = None) -> int:
        """Move a run to done (no error) or failed; returns the record version (persisted in the background)."""
        was = self.store.status(run_id)
        status = "failed" if error is not None else "done"
        if was == "running":
            started = self.executing.get(run_id)
            self.metrics.active_runs.dec()
            if started is not None:
                self.metrics.duration.observe(trio.current_time() - started)
        changes: dict[str, Any] = {"status": status, "error": error, "finishedAt": self.now_ms()}
        if status == "done":
            changes.update(progress=1.0, stats=stats)
        return await self.change(run_id, **changes)

    async def change(self, run_id: str, *, persist: bool = True, **changes: Any) -> int:
        record, version = self.store.update(run_id, **changes)
        if "status" in changes:
            self.metrics.runs_total.labels(status=changes["status"]).inc()
        if persist:
            self.nursery.start_soon(self._persist, run_id, version, None)
        await self.publish.send(RunChanged(record=record))
        return version

    async def _persist(self, run_id: str, version: int, submit: Submit | None) -> None:
        try:
            if await self.store.flush(run_id, version):
                self.metrics.artifacts.labels(type="run").inc()
        except OSError as exc:
            log.error("cannot write the record of run %s: %s", run_id, exc)
            if submit is not None:
                submit.reply.fail(Unavailable(f"cannot write evidence: {exc.strerror or exc}", retry_after=30))
            return
        if submit is not None:
            self.metrics.enqueue_latency.observe(trio.current_time() - submit.accepted_at)
            record = self.store.get(run_id) or {}
            submit.reply.set({"id": run_id, "status": "queued", "startedAt": record.get("startedAt")})

    async def _persist_then_answer(self, run_id: str, version: int, reply: Any, answer: dict[str, Any]) -> None:
        try:
            await self.store.flush(run_id, version)
        except OSError as exc:
            log.error("cannot write the record of run %s: %s", run_id, exc)
        reply.set(answer)
