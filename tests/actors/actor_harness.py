"""The scheduler and the simulator wired as the system wires them, with a scripted in-process runner at the process
boundary and a recorder in the broadcaster's place, for tests under ``autojump_clock``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio

from spark.actors import scheduler, simulator
from spark.actors.messages import Cancel, Job, Outcome, ProgressFn, Reply, Reserve, Submit
from spark.config import Settings
from spark.metrics import Metrics
from spark.plugin.request import RunRequest
from spark.service.store import RunStore


def run_id(n: int) -> str:
    return f"bt-{1_700_000_000_000 + n:013d}-{n:08x}"


class ScriptedRunner:
    """Plays a script per run id: ("sleep", s), ("progress", p), ("raise", exc); then returns an Outcome.
    Unscripted runs sleep ``default_s``. Records (run id, start time) of each call."""

    def __init__(self, scripts: dict[str, list[tuple[str, Any]]] | None = None, default_s: float = 10.0) -> None:
        self.scripts = scripts or {}
        self.default_s = default_s
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, job: Job, progress: ProgressFn) -> Outcome:
        self.calls.append((job.run_id, trio.current_time()))
        for kind, value in self.scripts.get(job.run_id, [("sleep", self.default_s)]):
            if kind == "sleep":
                await trio.sleep(value)
            elif kind == "progress":
                await progress(value)
            elif kind == "raise":
                raise value
        return Outcome(stats={"totalTrades": 1})


@dataclass
class Harness:
    store: RunStore
    metrics: Metrics
    runner: ScriptedRunner
    to_scheduler: trio.MemorySendChannel
    changes: list[tuple[float, str, str, float, str | None]] = field(default_factory=list)
    t0: float = 0.0

    async def submit(self, n: int) -> dict[str, Any]:
        reserved: Reply[None] = Reply()
        await self.to_scheduler.send(Reserve(reply=reserved))
        await reserved.wait()
        queued: Reply[dict[str, Any]] = Reply()
        job = Job(run_id=run_id(n), request=RunRequest(), impl="engine", started_at=1_700_000_000_000 + n)
        await self.to_scheduler.send(Submit(job=job, accepted_at=trio.current_time(), reply=queued))
        return await queued.wait()

    async def cancel(self, n: int) -> dict[str, Any]:
        reply: Reply[dict[str, Any]] = Reply()
        await self.to_scheduler.send(Cancel(run_id=run_id(n), reply=reply))
        return await reply.wait()

    def statuses(self, n: int) -> list[tuple[float, str]]:
        """(time since start, status) of each status change of run n, in order."""
        out: list[tuple[float, str]] = []
        for t, rid, status, _, _ in self.changes:
            if rid == run_id(n) and (not out or out[-1][1] != status):
                out.append((round(t - self.t0, 6), status))
        return out


@asynccontextmanager
async def wired(tmp_path: Path, runner: ScriptedRunner, **overrides: Any) -> AsyncIterator[Harness]:
    settings = replace(Settings(), **{"max_concurrent": 2, "queue_size": 3, **overrides})
    store = RunStore(tmp_path, threads=False)
    metrics = Metrics()
    to_scheduler, scheduler_inbox = trio.open_memory_channel[Any](16)
    to_simulator, simulator_inbox = trio.open_memory_channel[Any](0)
    reports, reports_inbox = trio.open_memory_channel[Any](16)
    publish, published = trio.open_memory_channel[Any](64)
    harness = Harness(store=store, metrics=metrics, runner=runner, to_scheduler=to_scheduler, t0=trio.current_time())

    async def record(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with published:
            task_status.started()
            async for change in published:
                r = change.record
                harness.changes.append((trio.current_time(), r["id"], r["status"], r["progress"], r["error"]))

    async with trio.open_nursery() as nursery:
        await nursery.start(record)
        await nursery.start(
            lambda task_status: simulator.run(
                inbox=simulator_inbox, reports=reports, runners={"engine": runner}, task_status=task_status
            )
        )
        await nursery.start(
            lambda task_status: scheduler.run(
                inbox=scheduler_inbox,
                reports=reports_inbox,
                launch=to_simulator,
                publish=publish,
                store=store,
                metrics=metrics,
                settings=lambda: settings,
                now_ms=lambda: int(trio.current_time() * 1000),
                task_status=task_status,
            )
        )
        try:
            yield harness
        finally:
            await to_scheduler.aclose()
