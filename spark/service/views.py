"""The read half of `spark.plugin.services.Services`: runs listed, paged, filtered and sorted, and everything the
report view reads from a run's evidence. Mixed into `spark.system.System`, which provides ``store``, ``_plugins``,
``_settings`` and ``_candles``. Everything that touches the disk or sorts many records runs in a worker thread:
the event loop only takes O(limit) snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio

from spark.config import Settings
from spark.errors import NotFound
from spark.plugin.manager import Plugins
from spark.service import report
from spark.service.curves import downsample
from spark.service.denials import denied_page
from spark.service.evidence import gates_path
from spark.service.store import RunQuery, RunStore, query

__all__ = ["SNAPSHOT_RUNS", "RunViews"]

SNAPSHOT_RUNS = 200  # runs in an SSE snapshot (the newest); older ones are paged with GET /api/backtest?before=


class RunViews:
    store: RunStore
    _plugins: Plugins
    _settings: Settings
    _candles: report.CandleCache

    @property
    def folder(self) -> Path:
        return self.store.folder

    async def list_runs(
        self,
        limit: int = 100,
        before: str | None = None,
        *,
        status: str | None = None,
        strategy: str | None = None,
        pair: str | None = None,
        sort: str | None = None,
        offset: int = 0,
    ) -> dict[str, Any]:
        if (status, strategy, pair, sort) == (None, None, None, None) and offset == 0:
            return {"runs": [r.to_wire() for r in self.store.page(limit, before)], "total": len(self.store)}
        field = (sort or "-startedAt").lstrip("-")
        q = RunQuery(
            status=status,
            strategy=strategy,
            pair=pair,
            sort=field,
            descending=(sort or "-").startswith("-"),
            limit=limit,
            offset=offset,
            before=before,
        )
        records = self.store.records()  # a snapshot taken on the loop; filtered and sorted in a thread

        def answer() -> dict[str, Any]:
            page, total = query(records, q)
            return {"runs": [r.to_wire() for r in page], "total": total}

        return await trio.to_thread.run_sync(answer)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        record = self.store.get(run_id)
        return None if record is None else record.to_wire()

    async def run_summary(self, run_id: str) -> dict[str, Any] | None:
        return await trio.to_thread.run_sync(self.store.summary, run_id)

    async def equity(
        self, run_id: str, points: int, start_ms: int | None = None, end_ms: int | None = None
    ) -> dict[str, Any] | None:
        record, plugins, data_dir = self.store.get(run_id), self._plugins, self._settings.data_dir

        def read() -> dict[str, Any] | None:
            series = self.store.series(run_id)
            if series is None:
                return None
            if series.benchmark is None and record is not None:
                summary = self.store.summary(run_id)
                series = report.with_benchmark(series, record, summary, plugins, data_dir, self._candles)
            return downsample(series, points, start_ms, end_ms)

        return await trio.to_thread.run_sync(read)

    async def price(self, run_id: str, points: int, start_ms: int | None, end_ms: int | None) -> dict[str, Any]:
        record, plugins, settings = self.store.get(run_id), self._plugins, self._settings
        if record is None:
            raise NotFound(f"no run {run_id}", field="id")

        def read() -> dict[str, Any]:
            summary = self.store.summary(run_id)
            return report.price(
                record,
                summary,
                plugins,
                settings.data_dir,
                self.store.evidence_dir,
                self._candles,
                start_ms,
                end_ms,
                points,
            )

        return await trio.to_thread.run_sync(read)

    async def trades(self, run_id: str, sort: str, limit: int, offset: int) -> dict[str, Any]:
        return await trio.to_thread.run_sync(report.trade_page, self.store.evidence_dir, run_id, sort, limit, offset)

    async def denied(self, run_id: str, limit: int, offset: int, gate: str | None) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            path = gates_path(self.store.evidence_dir, run_id)
            return denied_page(path, self.store.summary(run_id), limit, offset, gate)

        return await trio.to_thread.run_sync(read)

    async def monthly(self, run_id: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            series = self.store.series(run_id)
            if series is None:
                return None
            options = ((self.store.summary(run_id) or {}).get("metadata") or {}).get("options") or {}
            return report.monthly_returns(series, options.get("cash"))

        return await trio.to_thread.run_sync(read)

    async def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        return await trio.to_thread.run_sync(self.store.artifacts, run_id)

    async def artifact_path(self, run_id: str, name: str) -> Path | None:
        return await trio.to_thread.run_sync(self.store.artifact_path, run_id, name)

    async def rendered_artifact(self, run_id: str, name: str) -> Iterator[str] | None:
        return await trio.to_thread.run_sync(self.store.rendered_artifact, run_id, name)

    def snapshot(self) -> dict[str, Any]:
        """What an SSE snapshot holds: the newest SNAPSHOT_RUNS runs and the total (older ones are paged)."""
        return {"runs": [r.to_wire() for r in self.store.page(SNAPSHOT_RUNS)], "total": len(self.store)}
