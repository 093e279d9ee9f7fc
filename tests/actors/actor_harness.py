"""The scheduler, the simulator and the auditor wired as the system wires them, with a scripted in-process runner at
the process boundary and a recorder in the broadcaster's place, for tests under ``autojump_clock``.

Runs are told apart by the ``notes`` of their request (``"run 3"``): the scheduler makes the ids, the script is
chosen by the notes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio

from spark.actors import auditor, scheduler, simulator
from spark.actors.messages import Cancel, Delete, Job, Outcome, ProgressFn, Reply, RunDeleted, Start, Stop
from spark.config import Settings
from spark.metrics import Metrics
from spark.plugin.request import RunRequest
from spark.plugin.services import Caller
from spark.service.store import RunStore

EPOCH_MS = 1_700_000_000_000  # the harness clock: trio time 0 is this wall time
ADMIN = Caller(ip="127.0.0.1", user="admin")


def clock_ms() -> int:
    return EPOCH_MS + round(trio.current_time() * 1000)


class ScriptedRunner:
    """Plays a script per run number: ("sleep", s), ("progress", p), ("raise", exc); then returns an Outcome.
    Unscripted runs sleep ``default_s``. Records (run number, start time) of each call and the runs that ran to
    their end."""

    def __init__(self, scripts: dict[int, list[tuple[str, Any]]] | None = None, default_s: float = 10.0) -> None:
        self.scripts = scripts or {}
        self.default_s = default_s
        self.calls: list[tuple[int, float]] = []
        self.completed: list[int] = []

    async def __call__(self, job: Job, progress: ProgressFn) -> Outcome:
        n = int(job.request.notes.removeprefix("run "))
        self.calls.append((n, trio.current_time()))
        for kind, value in self.scripts.get(n, [("sleep", self.default_s)]):
            if kind == "sleep":
                await trio.sleep(value)
            elif kind == "progress":
                await progress(value)
            elif kind == "market":
                await progress(0.2, pair=value[0], timeframe=value[1], bars=value[2])
            elif kind == "raise":
                raise value
        self.completed.append(n)
        return Outcome(stats={"total_trades": 1}, pair="SYNTH", timeframe="4h", bars=10)


@dataclass
class Harness:
    store: RunStore
    metrics: Metrics
    runner: ScriptedRunner
    audit_dir: Path
    to_scheduler: trio.MemorySendChannel
    changes: list[tuple[float, str, str, float, str | None]] = field(default_factory=list)
    ids: dict[int, str] = field(default_factory=dict)
    t0: float = 0.0

    async def submit(self, n: int, **request: Any) -> dict[str, Any]:
        reply: Reply[dict[str, Any]] = Reply()
        run_request = RunRequest(notes=f"run {n}", **request)
        message = Start(
            request=run_request,
            caller=ADMIN,
            payload={"notes": f"run {n}"},
            accepted_at=trio.current_time(),
            reply=reply,
        )
        await self.to_scheduler.send(message)
        answer = await reply.wait()
        self.ids[n] = answer["id"]
        return answer

    async def cancel(self, n: int | str) -> dict[str, Any]:
        reply: Reply[dict[str, Any]] = Reply()
        run_id = self.ids[n] if isinstance(n, int) else n
        await self.to_scheduler.send(Cancel(run_id=run_id, caller=ADMIN, reply=reply))
        return await reply.wait()

    async def delete(self, n: int | str) -> dict[str, Any]:
        reply: Reply[dict[str, Any]] = Reply()
        run_id = self.ids[n] if isinstance(n, int) else n
        await self.to_scheduler.send(Delete(run_id=run_id, caller=ADMIN, reply=reply))
        return await reply.wait()

    def statuses(self, n: int) -> list[tuple[float, str]]:
        """(time since start, status) of each status change of run n, in order."""
        out: list[tuple[float, str]] = []
        for t, rid, status, _, _ in self.changes:
            if rid == self.ids.get(n) and (not out or out[-1][1] != status):
                out.append((round(t - self.t0, 6), status))
        return out

    def audit(self) -> list[dict[str, Any]]:
        lines = []
        for path in sorted(self.audit_dir.glob("backtest_*.log")):
            lines += [json.loads(line) for line in path.read_text().splitlines()]
        return lines


@asynccontextmanager
async def wired(tmp_path: Path, runner: ScriptedRunner, **overrides: Any) -> AsyncIterator[Harness]:
    settings = replace(Settings(), **{"max_concurrent": 2, "queue_size": 3, **overrides})
    store = RunStore(tmp_path, threads=False)
    metrics = Metrics()
    to_scheduler, scheduler_inbox = trio.open_memory_channel[Any](16)
    to_simulator, simulator_inbox = trio.open_memory_channel[Any](0)
    to_auditor, auditor_inbox = trio.open_memory_channel[Any](64)
    publish, published = trio.open_memory_channel[Any](64)
    harness = Harness(
        store=store,
        metrics=metrics,
        runner=runner,
        audit_dir=tmp_path / "audit",
        to_scheduler=to_scheduler,
        t0=trio.current_time(),
    )

    async def record(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with published:
            task_status.started()
            async for change in published:
                if isinstance(change, RunDeleted):
                    harness.changes.append((trio.current_time(), change.run_id, "deleted", 0.0, None))
                    continue
                r = change.record
                harness.changes.append((trio.current_time(), r.id, r.status, r.progress, r.error))

    async with trio.open_nursery() as nursery:
        await nursery.start(record)
        await nursery.start(
            lambda task_status: auditor.run(
                inbox=auditor_inbox, folder=harness.audit_dir, threads=False, task_status=task_status
            )
        )
        await nursery.start(
            lambda task_status: simulator.run(
                inbox=simulator_inbox, reports=to_scheduler.clone(), runners={"engine": runner}, task_status=task_status
            )
        )
        await nursery.start(
            lambda task_status: scheduler.run(
                inbox=scheduler_inbox,
                to_self=to_scheduler.clone(),
                launch=to_simulator,
                publish=publish,
                audit=to_auditor,
                store=store,
                metrics=metrics,
                settings=lambda: settings,
                now_ms=clock_ms,
                task_status=task_status,
            )
        )
        try:
            yield harness
        finally:
            with trio.CancelScope(shield=True):
                await to_scheduler.send(Stop())
                await to_scheduler.aclose()
