"""How the scheduler's decided status changes go out: every change of a run goes, in order, to the run store
(memory at once, disk in the background with per-run ordering), to the metrics, to the log (one ``spark.runs``
line per status change) and to the broadcaster.

Only the scheduler (`spark.actors.scheduler`) calls this, from its one loop, so no two changes interleave. The
metric children of the status labels are looked up once (a start moves two or three of them), not per change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from spark.actors.messages import RunChanged
from spark.actors.verdicts import Verdicts
from spark.logs import fields
from spark.metrics import Metrics
from spark.service.record import STATUSES, RunRecord
from spark.service.store import RunStore

__all__ = ["RunChanges", "log_status"]

run_log = logging.getLogger("spark.runs")  # one line per run status change (spark.logs)


def log_status(record: RunRecord) -> None:
    """One line per status change (spark.logs: event ``run``)."""
    run_log.info(
        "run %s %s%s",
        record.id,
        record.status,
        "" if record.error is None else f" ({record.error})",
        extra=fields(event="run", id=record.id, status=record.status, error=record.error, strategy=record.strategy),
    )


class RunChanges:
    """Applies a run's changes for the scheduler: ``executing`` (run id -> trio time it started) is the scheduler's
    own map, read to observe a run's duration when it ends; persisting runs in ``nursery``."""

    def __init__(
        self,
        *,
        store: RunStore,
        metrics: Metrics,
        verdicts: Verdicts,
        publish: trio.MemorySendChannel,
        nursery: trio.Nursery,
        executing: dict[str, float],
        now_ms: Callable[[], int],
    ) -> None:
        self.store, self.metrics, self.verdicts, self.publish = store, metrics, verdicts, publish
        self.nursery, self.executing, self.now_ms = nursery, executing, now_ms
        self.runs_total = {status: metrics.runs_total.labels(status=status) for status in STATUSES}

    async def queued(self, record: RunRecord) -> None:
        """A start written and audited: the run enters the store (its record is on disk already)."""
        self.store.put(record, written=True)
        self.runs_total[record.status].inc()
        log_status(record)
        await self.publish.send(RunChanged(record=record))

    async def end(
        self, run_id: str, *, error: str | None = None, stats: dict[str, Any] | None = None, **market: Any
    ) -> int:
        """Move a run to done (no error) or failed; returns the record version (persisted in the background)."""
        was = self.store.status(run_id)
        status = "failed" if error is not None else "done"
        if was == "running":
            self.metrics.active_runs.dec()
            started = self.executing.get(run_id)
            if started is not None:
                self.metrics.duration.observe(trio.current_time() - started)
        changes: dict[str, Any] = {"status": status, "error": error, "finished_at": self.now_ms(), **market}
        if status == "done":
            changes.update(progress=1.0, stats=stats)
        return await self.change(run_id, **changes)

    async def change(self, run_id: str, *, persist: bool = True, **changes: Any) -> int:
        """Apply ``changes`` to the run; written in the background unless ``persist`` is false (progress only)."""
        record, version = self.store.update(run_id, **changes)
        if "status" in changes:
            self.runs_total[record.status].inc()
            log_status(record)
        if persist:
            self.nursery.start_soon(self.verdicts.persist, run_id, version)
        await self.publish.send(RunChanged(record=record))
        return version
