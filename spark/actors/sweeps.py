"""The sweeps actor: the one decider of sweeps and walk-forwards over the API (issue 10), and the nursery they run in.

One loop over one inbox (start, cancel), so no two decisions interleave. A start (its body already checked,
`spark.actors.sweep_body`) gets an id (``sw-``, or ``wf-`` with ``walkForward``), its evidence folder
(``evidence/sweeps/<id>/sweep.json``, status ``queued``), its audit line (``sweep.start``), and only then its answer;
an audit that cannot be written takes the folder back (503, nothing happened). At most ``sweep_max_running`` sweeps
run at once, the others wait queued, first come first served.

A sweep never runs on the event loop: its candles are loaded in a worker thread, and `spark.research.run_sweep` /
`run_walkforward` are driven from a worker thread too, their chunks evaluated by the research executor (a local
process pool, or Ray with ``ray_address``; a sweep under 64 sets inline in that thread). The thread reports
progress into a plain holder, which a ticker publishes at most 4 times a second (SSE ``event: sweep``); every
status change is published at once. A cancel is audited (``sweep.cancel``) before it is carried out: a queued
sweep never starts, a running one has its executor stopped (the pool terminated, Ray tasks cancelled) within a
second. Either ends ``failed`` with ``error: cancelled``.

At start-up every sweep recorded ``queued`` or ``running`` comes back ``failed``, ``error: interrupted`` (DESIGN.md,
"Restart, per kind"); when the inbox closes (shutdown) running sweeps are stopped and recorded so too.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from spark.actors.messages import AuditLine, Reply, SweepChanged
from spark.actors.sweep_body import SweepDraft
from spark.actors.sweep_work import SERVICE_FIELDS, compute
from spark.config import Settings
from spark.errors import Conflict, NotFound, SparkError, Unavailable
from spark.ids import wall_ms
from spark.metrics import Metrics
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins
from spark.plugin.services import Caller
from spark.research import evidence
from spark.research.jobs import Cancelled
from spark.research.reads import read_docs, summary_of
from spark.research.result import parse_objective
from spark.research.sweep import new_sweep_id

__all__ = ["CancelSweep", "StartSweep", "SweepBoard", "run"]

log = logging.getLogger(__name__)

TICK_S = 0.25  # progress events: at most 4 a second per sweep
CANCEL_WAIT_S = 10.0  # a cancel waits this long for the sweep to stop before it answers


@dataclass(frozen=True, slots=True, kw_only=True)
class StartSweep:
    draft: SweepDraft
    caller: Caller
    reply: Reply[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSweep:
    sweep_id: str
    caller: Caller
    reply: Reply[dict[str, Any]]


@dataclass(slots=True)
class SweepBoard:
    """Every sweep's summary (written by the actor only; the API reads it): ``{id, kind, status, strategy, method,
    objective, feed, done, total, best, startedAt, finishedAt, error, startedBy}``."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summaries(self) -> list[dict[str, Any]]:
        return sorted(self.docs.values(), key=lambda d: (d.get("startedAt") or 0, d["id"]), reverse=True)

    def summary(self, sweep_id: str) -> dict[str, Any] | None:
        return self.docs.get(sweep_id)


@dataclass(slots=True, eq=False)
class _Sweep:
    """One sweep the actor runs or holds queued."""

    id: str
    draft: SweepDraft
    caller: Caller
    service: dict[str, Any]  # the fields the service keeps in sweep.json (SERVICE_FIELDS)
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: tuple[int, int, dict[str, Any] | None] | None = None  # set by the worker thread
    ended: trio.Event = field(default_factory=trio.Event)


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    audit: trio.MemorySendChannel,
    publish: trio.MemorySendChannel,
    board: SweepBoard,
    settings: Callable[[], Settings],
    plugins: Callable[[], Plugins],
    metrics: Metrics | None = None,
    now_ms: Callable[[], int] = wall_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` (StartSweep, CancelSweep) until it closes; record interrupted sweeps first."""
    async with inbox, audit, publish, trio.open_nursery() as nursery:
        actor = _Sweeps(board, audit, publish, settings, plugins, metrics, now_ms, nursery)
        await actor.recover()
        task_status.started()
        async for message in inbox:
            if isinstance(message, StartSweep):
                await actor.start(message)
            elif isinstance(message, CancelSweep):
                await actor.cancel(message)
        await actor.shutdown()


class _Sweeps:
    def __init__(self, board, audit, publish, settings, plugins, metrics, now_ms, nursery) -> None:
        self.board, self.audit, self.publish_to = board, audit, publish
        self.settings, self.plugins, self.metrics, self.now_ms = settings, plugins, metrics, now_ms
        self.nursery = nursery
        self.queue: collections.deque[_Sweep] = collections.deque()
        self.running: dict[str, _Sweep] = {}
        self.closing = False

    # --- state ----------------------------------------------------------------------------------------------

    def folder(self, sweep_id: str) -> Path:
        return evidence.sweep_folder(self.settings().evidence_dir, sweep_id)

    async def publish(self, summary: dict[str, Any]) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await self.publish_to.send(SweepChanged(event=dict(summary)))

    async def enter(self, sweep_id: str, status: str, **changes: Any) -> None:
        """A sweep enters ``status``: the board, the metric, the stream."""
        summary = {**self.board.docs[sweep_id], **changes, "status": status}
        self.board.docs[sweep_id] = summary
        if self.metrics is not None:
            self.metrics.sweeps_total.labels(status=status).inc()
        await self.publish(summary)

    async def recover(self) -> None:
        """Sweeps cut off by the last shutdown or crash are now failed, interrupted."""
        folder = Path(self.settings().evidence_dir) / "sweeps"
        for doc in await trio.to_thread.run_sync(read_docs, folder):
            if doc.get("status") in ("queued", "running"):
                doc.update(status="failed", error="interrupted", finishedAt=self.now_ms())
                try:
                    await trio.to_thread.run_sync(evidence.write_json, folder / doc["id"], doc)
                except OSError as exc:
                    log.error("sweep %s: cannot record it interrupted: %s", doc["id"], exc)
                log.warning("sweep %s was cut off by the last shutdown: failed, interrupted", doc["id"])
            self.board.docs[doc["id"]] = summary_of(doc)

    # --- start ----------------------------------------------------------------------------------------------

    async def start(self, m: StartSweep) -> None:
        d = m.draft
        if self.closing:
            await self.refuse(m, Unavailable("the service is shutting down", retry_after=5))
            return
        requested = self.now_ms()
        sweep_id = new_sweep_id(requested, "wf" if d.kind == "walkforward" else "sw")
        doc = queued_doc(sweep_id, d, m.caller, requested)
        folder = self.folder(sweep_id)
        try:
            await trio.to_thread.run_sync(evidence.write_json, folder, doc)
        except OSError as exc:
            error = Unavailable(f"cannot write the sweep's evidence ({exc}); nothing started", retry_after=30)
            await self.refuse(m, error)
            return
        try:
            await self.write_audit(entry("sweep.start", m.caller, sweep_id, d.payload, True))
        except Unavailable as exc:
            await trio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
            m.reply.fail(exc)
            return
        self.board.docs[sweep_id] = summary_of(doc)
        await self.enter(sweep_id, "queued")
        service = {k: doc[k] for k in SERVICE_FIELDS}
        self.queue.append(_Sweep(id=sweep_id, draft=d, caller=m.caller, service=service))
        m.reply.set({"id": sweep_id, "status": "queued", "startedAt": requested})
        self.launch()

    def launch(self) -> None:
        while self.queue and len(self.running) < self.settings().sweep_max_running and not self.closing:
            sweep = self.queue.popleft()
            self.running[sweep.id] = sweep
            self.nursery.start_soon(self.execute, sweep)

    async def execute(self, sweep: _Sweep) -> None:
        """Run one sweep to its end: load the candles, compute in a worker thread, record how it ended."""
        await self.enter(sweep.id, "running")
        settings, plugins = self.settings(), self.plugins()
        status, error, changes = "failed", None, {}
        ticking = trio.CancelScope()
        self.nursery.start_soon(self.tick, sweep, ticking)
        try:
            candles = await trio.to_thread.run_sync(_load, plugins, sweep.draft, settings.data_dir)
            if sweep.cancel.is_set():
                raise Cancelled("sweep cancelled")
            changes = await trio.to_thread.run_sync(
                lambda: compute(sweep, candles, settings, plugins, self.folder(sweep.id))
            )
            status = "done"
        except Cancelled:
            error = "interrupted" if self.closing else "cancelled"
        except SparkError as exc:
            error = exc.message
        except Exception as exc:  # a bug or a broken strategy fails the sweep, not the service
            log.exception("sweep %s failed", sweep.id)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            ticking.cancel()
        finished = self.now_ms()
        if status == "failed":
            with contextlib.suppress(OSError, ValueError), trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_record_failed, self.folder(sweep.id), error, finished, sweep.service)
        done = (sweep.progress or (0, 0, None))[0]
        if self.metrics is not None:
            self.metrics.sweep_sets.inc(changes.get("done", done))
        await self.enter(sweep.id, status, error=error, finishedAt=finished, **changes)
        self.running.pop(sweep.id, None)
        sweep.ended.set()
        self.launch()

    async def tick(self, sweep: _Sweep, scope: trio.CancelScope) -> None:
        """Publish the sweep's progress when it moved, at most every TICK_S, until ``scope`` is cancelled."""
        with scope:
            await self._tick(sweep)

    async def _tick(self, sweep: _Sweep) -> None:
        last = None
        while True:
            await trio.sleep(TICK_S)
            seen = sweep.progress
            if seen is not None and seen != last and self.board.docs[sweep.id]["status"] == "running":
                last = seen
                done, total, best = seen
                summary = {**self.board.docs[sweep.id], "done": done, "total": total}
                if best is not None:
                    summary["best"] = {"index": best.get("index"), "params": best["params"], "value": best["value"]}
                self.board.docs[sweep.id] = summary
                await self.publish(summary)

    # --- cancel ---------------------------------------------------------------------------------------------

    async def cancel(self, m: CancelSweep) -> None:
        summary = self.board.docs.get(m.sweep_id)
        if summary is None:
            await self.refuse(m, NotFound(f"no sweep {m.sweep_id}", field="id"))
            return
        if summary["status"] == "done":
            await self.refuse(m, Conflict(f"sweep {m.sweep_id} is done: there is nothing to cancel"))
            return
        if summary["status"] == "failed":
            m.reply.set({"ok": True, "id": m.sweep_id, "status": "failed"})  # ended already: no change
            return
        try:
            await self.write_audit(entry("sweep.cancel", m.caller, m.sweep_id, {"id": m.sweep_id}, True))
        except Unavailable as exc:
            m.reply.fail(exc)
            return
        queued = next((s for s in self.queue if s.id == m.sweep_id), None)
        if queued is not None:
            self.queue.remove(queued)
            finished = self.now_ms()
            with contextlib.suppress(OSError, ValueError):
                await trio.to_thread.run_sync(_record_failed, self.folder(m.sweep_id), "cancelled", finished)
            await self.enter(m.sweep_id, "failed", error="cancelled", finishedAt=finished)
        elif (sweep := self.running.get(m.sweep_id)) is not None:
            sweep.cancel.set()
            with trio.move_on_after(CANCEL_WAIT_S):
                await sweep.ended.wait()
        status = self.board.docs[m.sweep_id]["status"]
        m.reply.set({"ok": True, "id": m.sweep_id, "status": status})

    async def shutdown(self) -> None:
        """The inbox closed: queued sweeps and running ones end failed, interrupted."""
        self.closing = True
        while self.queue:
            sweep = self.queue.popleft()
            with contextlib.suppress(OSError, ValueError):
                await trio.to_thread.run_sync(_record_failed, self.folder(sweep.id), "interrupted", self.now_ms())
            await self.enter(sweep.id, "failed", error="interrupted", finishedAt=self.now_ms())
        for sweep in list(self.running.values()):
            sweep.cancel.set()
        for sweep in list(self.running.values()):
            await sweep.ended.wait()

    # --- audit ----------------------------------------------------------------------------------------------

    async def refuse(self, m: StartSweep | CancelSweep, error: SparkError) -> None:
        action, payload, target = (
            ("sweep.start", m.draft.payload, None)
            if isinstance(m, StartSweep)
            else ("sweep.cancel", {"id": m.sweep_id}, m.sweep_id)
        )
        try:
            await self.write_audit(
                entry(action, m.caller, target, payload, False, error=f"{error.code}: {error.message}")
            )
        except Unavailable as exc:
            m.reply.fail(exc)
            return
        m.reply.fail(error)

    async def write_audit(self, line: dict[str, Any]) -> None:
        reply: Reply[None] = Reply()
        try:
            await self.audit.send(AuditLine(entry=line, reply=reply))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise Unavailable("the audit log is closed: the service is shutting down", retry_after=5) from None
        await reply.wait()


def entry(action: str, caller: Caller, target: str | None, payload: Any, success: bool, **extra: Any) -> dict[str, Any]:
    line = {"action": action, "ip": caller.ip, "user": caller.user, "id": target, "payload": payload}
    return {**line, "success": success, **{k: v for k, v in extra.items() if v is not None}}


def queued_doc(sweep_id: str, d: SweepDraft, caller: Caller, requested: int) -> dict[str, Any]:
    """``sweep.json`` of a sweep accepted and waiting; the research driver rewrites it once it runs (and the
    service adds its own fields back at the end: `spark.actors.sweep_work.SERVICE_FIELDS`)."""
    return {
        "id": sweep_id,
        "kind": d.kind,
        "status": "queued",
        "strategy": d.strategy,
        "spec": {
            "method": d.method,
            "grid": d.grid,
            "space": d.space,
            "trials": d.trials,
            "objective": parse_objective(d.objective).to_json(),
            "constraints": d.constraints,
            "options": d.options_wire,
            "walkForward": d.walk_forward,
        },
        "feed": {"name": d.feed_name, "args": d.feed_args},
        "seeds": {"seed": d.seed},
        "sets": d.sets,
        "requestedAt": requested,
        "startedAt": requested,
        "finishedAt": None,
        "error": None,
        "startedBy": caller.user,
    }


def _load(plugins: Plugins, d: SweepDraft, data_dir: Path) -> Any:
    """The sweep's candles, read by its feed as a backtest's are (a restricted FeedEnv). Blocking."""
    return plugins.feed(d.feed_name).load(d.feed_args, FeedEnv(data_dir=Path(data_dir), restricted=True))


def _record_failed(folder: Path, error: str | None, finished: int, service: dict[str, Any] | None = None) -> None:
    """``sweep.json`` says failed with ``error`` (whatever the driver wrote before it stopped), with the service's
    own fields."""
    doc, _ = evidence.read_sweep(folder)
    doc.update(service or {})
    doc.update(status="failed", error=error, finishedAt=finished)
    evidence.write_json(folder, doc)
