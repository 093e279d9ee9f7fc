"""Run records in memory, kept in step with ``evidence/backtest/run_<id>.json``, and the run's evidence read back.

Records are frozen `RunRecord` values: a change makes a new one and bumps the run's version, so a reader holding a
record holds a consistent one. Listing newest first costs O(limit), whatever the history size, and pages with
``before=<id>``. Writes to disk go through `RunStore.flush`, which serialises the writes of one run and never lets
an older version overwrite a newer one. `RunStore.load` rebuilds the list at start-up: files that do not parse or
are not ours are skipped and logged; runs cut off by a crash come back failed, "interrupted"; a run that did not end
done keeps no result files; temp files of interrupted writes are removed.

The evidence readers (`summary`, `series`, `artifacts`, `result`) block on the disk: the service calls them in a
worker thread, never on the event loop.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trio

from spark.ids import id_time_ms, is_run_id, wall_ms
from spark.plugin.request import RunRequest
from spark.service.evidence import (
    Series,
    equity_csv_lines,
    read_json,
    read_series,
    read_trades,
    remove_orphans,
    remove_result_files,
    remove_stale_temp_files,
    result_path,
    series_path,
    summary_path,
    trades_csv_lines,
    trades_path,
    write_run_record,
)
from spark.service.record import TERMINAL, FeedRef, PluginsUsed, RunRecord, Status, snake

__all__ = ["SORT_FIELDS", "RunQuery", "RunStore", "artifact_names", "new_record", "query"]

log = logging.getLogger(__name__)

_FILE = re.compile(r"^run_(.+)\.json$")


def new_record(
    run_id: str, request: RunRequest, *, impl: str, started_at: int, plugins: PluginsUsed | None = None
) -> RunRecord:
    """The record of a run just accepted (status queued)."""
    return RunRecord(
        id=run_id,
        status="queued",
        pair=request.pair,
        timeframe=request.timeframe,
        notes=request.notes,
        strategy=request.strategy,
        params=dict(request.params),
        feed=FeedRef(name=request.feed_name, args=dict(request.feed_args)),
        options=request.options.to_json(),
        impl=impl,
        started_at=started_at,
        plugins=plugins,
    )


# What a list may be sorted by: record fields and the stats of done runs (wire names).
SORT_FIELDS = (
    "startedAt",
    "finishedAt",
    "bars",
    "returnPct",
    "pnl",
    "maxDrawdownPct",
    "sharpe",
    "sortino",
    "cagrPct",
    "totalTrades",
    "winRate",
    "profitFactor",
    "exposurePct",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQuery:
    """A filtered, sorted page of runs: ``sort`` is a SORT_FIELDS name, ``descending`` its direction. Runs without
    the value (not done yet, an undefined stat) come last either way."""

    status: str | None = None
    strategy: str | None = None
    pair: str | None = None
    sort: str = "startedAt"
    descending: bool = True
    limit: int = 100
    offset: int = 0
    before: str | None = None  # only runs older than this id (the default order's cursor)


def query(records: list[RunRecord], q: RunQuery) -> tuple[list[RunRecord], int]:
    """(the page, how many match) of ``records`` (a `RunStore.records` snapshot): blocking, O(n log n), so the
    service calls it in a worker thread."""
    cursor = None if q.before is None else (id_time_ms(q.before), q.before)
    picked = [
        r
        for r in records
        if (q.status is None or r.status == q.status)
        and (q.strategy is None or r.strategy == q.strategy)
        and (q.pair is None or r.pair == q.pair)
        and (cursor is None or (r.started_at, r.id) < cursor)
    ]
    key = snake(q.sort)

    def value(r: RunRecord) -> Any:
        if key in ("started_at", "finished_at", "bars"):
            return getattr(r, key)
        return None if r.stats is None else r.stats.get(key)

    present = [r for r in picked if isinstance(value(r), int | float)]
    missing = [r for r in picked if not isinstance(value(r), int | float)]
    present.sort(key=lambda r: (value(r), r.started_at, r.id), reverse=q.descending)
    ordered = present + missing
    return ordered[q.offset : q.offset + q.limit], len(picked)


RENDERED = ("trades_csv", "equity_csv")  # CSVs the service renders from columnar evidence when downloaded


def _file_size(path: Path) -> int | None:
    """The size of a regular file reached without a symlink, or None."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return path.stat().st_size
    except OSError:
        return None


def artifact_names(run_id: str) -> dict[str, str]:
    """Artifact type -> file name inside ``evidence/backtest`` (the layout of `spark.service.evidence`)."""
    return {
        "run": f"run_{run_id}.json",
        "result": f"{run_id}.json",
        "trades_csv": f"{run_id}_trades.csv",
        "equity_csv": f"{run_id}_equity.csv",
    }


class RunStore:
    """All runs of this service, by id, with a newest-first index and per-run durable writes to
    ``evidence_dir/backtest`` (``folder``)."""

    def __init__(self, evidence_dir: Path, *, threads: bool = True) -> None:
        self.evidence_dir = Path(evidence_dir)
        self.folder = self.evidence_dir / "backtest"
        self.threads = threads  # False: write inline (deterministic under a mock clock in tests)
        self._records: dict[str, RunRecord] = {}
        self._index: list[tuple[int, str]] = []  # (started_at, id), ascending
        self._version: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._locks: dict[str, trio.Lock] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._records

    def get(self, run_id: str) -> RunRecord | None:
        return self._records.get(run_id)

    def status(self, run_id: str) -> Status | None:
        record = self._records.get(run_id)
        return None if record is None else record.status

    def page(self, limit: int | None = 100, before: str | None = None) -> list[RunRecord]:
        """The newest ``limit`` records (all with None), newest first; with ``before`` (a run id, known or not),
        only runs older than it, so a client pages with the last id it got."""
        end = len(self._index) if before is None else bisect.bisect_left(self._index, (id_time_ms(before), before))
        start = 0 if limit is None else max(0, end - max(0, limit))
        return [self._records[run_id] for _, run_id in reversed(self._index[start:end])]

    def records(self) -> list[RunRecord]:
        """Every record, oldest first: a snapshot to filter and sort off the event loop (`query`)."""
        return [self._records[run_id] for _, run_id in self._index]

    def put(self, record: RunRecord, *, written: bool = False) -> int:
        """Insert or replace a whole record; returns its new version. ``written``: this version is on disk
        already (a start writes its record before the run enters the store)."""
        run_id = record.id
        old = self._records.get(run_id)
        if old is not None and old.started_at != record.started_at:
            self._index.remove((old.started_at, run_id))
            old = None
        if old is None:
            bisect.insort(self._index, (record.started_at, run_id))
        self._records[run_id] = record
        version = self._version.get(run_id, 0) + 1
        self._version[run_id] = version
        if written:
            self._written[run_id] = version
        return version

    def remove(self, run_id: str) -> None:
        """Forget a run (deleted): it is no longer listed; its files are the caller's to remove."""
        record = self._records.pop(run_id, None)
        if record is not None:
            self._index.remove((record.started_at, run_id))
            self._version.pop(run_id, None)
            self._written.pop(run_id, None)

    def update(self, run_id: str, **changes: Any) -> tuple[RunRecord, int]:
        """Replace the record by a copy with ``changes``; returns (new record, version)."""
        record = self._records[run_id].replace(**changes)
        return record, self.put(record)

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the evidence folder: in a worker thread, or inline with ``threads=False``."""
        if self.threads:
            return await trio.to_thread.run_sync(fn, *args)
        return fn(*args)

    async def flush(self, run_id: str, version: int) -> bool:
        """Make sure version ``version`` of the run (or a newer one) is on disk; True if this call created the file.

        Writes of one run are serialised; a write that finds a newer version already written returns at once.
        Raises OSError when the file cannot be written (the record stays in memory).
        """
        lock = self._locks.setdefault(run_id, trio.Lock())
        try:
            async with lock:
                if self._written.get(run_id, 0) >= version:
                    return False
                current = self._version[run_id]
                wire = self._records[run_id].to_wire()
                await self.blocking(write_run_record, self.evidence_dir, wire)
                created = run_id not in self._written
                self._written[run_id] = current
                return created
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._locks.pop(run_id, None)  # nobody holds or waits for it: no lock per run kept forever

    # --- evidence, read back (blocking: call these in a worker thread) -----------------------------------------

    def summary(self, run_id: str) -> dict[str, Any] | None:
        """The result without per-bar or per-trade arrays (``<id>.summary.json``, small), or None. Evidence
        written before the compact forms existed falls back to the full result."""
        if run_id not in self._records:
            return None
        doc = read_json(summary_path(self.evidence_dir, run_id))
        if doc is None and not summary_path(self.evidence_dir, run_id).exists():
            full = self.result(run_id)
            if full is not None:
                report = full.get("report")
                stats = report.get("stats") if isinstance(report, dict) else None
                doc = {"id": full.get("id"), "report": {"stats": stats}, "metadata": full.get("metadata")}
        return doc if isinstance(doc, dict) else None

    def series(self, run_id: str) -> Series | None:
        """Timestamp, equity and drawdown per bar of a done run (``<id>.equity.npy``); or None. Evidence written
        before the compact forms existed falls back to the full result."""
        if run_id not in self._records:
            return None
        series = read_series(self.evidence_dir, run_id)
        if series is not None:
            return series
        report = (self.result(run_id) or {}).get("report")
        if not isinstance(report, dict) or not isinstance(report.get("equity"), list):
            return None
        try:
            equity = np.asarray(report["equity"], dtype=np.float64)
            timestamps = np.asarray(report.get("timestamp", range(len(equity))), dtype=np.int64)
            drawdown = np.abs(np.asarray(report.get("drawdownPct", np.zeros(len(equity))), dtype=np.float64))
        except (TypeError, ValueError):
            return None
        if not (timestamps.shape == equity.shape == drawdown.shape and equity.ndim == 1):
            return None
        return Series(timestamp=timestamps, equity=equity, drawdown_pct=drawdown)

    def result(self, run_id: str) -> dict[str, Any] | None:
        """The full result document of a known run (``<id>.json``), or None. It can be large (60 MB for 1,000,000
        bars): only legacy fallbacks read it."""
        if run_id not in self._records:
            return None
        doc = read_json(result_path(self.evidence_dir, run_id))
        return doc if isinstance(doc, dict) else None

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """``[{type, name, url, bytes}]`` for the known run's files that exist (regular files, no symlinks), and the
        CSVs rendered on download from its columnar evidence (``bytes`` null: their size is known once rendered)."""
        if not is_run_id(run_id) or run_id not in self._records:
            return []
        found = []
        for kind, name in artifact_names(run_id).items():
            size = _file_size(self.folder / name)
            if size is None and kind in RENDERED and self._renderable(run_id, kind):
                size = -1
            if size is None:
                continue
            url = f"/api/backtest/{run_id}/artifacts/{name}"
            found.append({"type": kind, "name": name, "url": url, "bytes": None if size < 0 else size})
        return found

    def _renderable(self, run_id: str, kind: str) -> bool:
        if kind == "trades_csv":
            return _file_size(trades_path(self.evidence_dir, run_id)) is not None
        return _file_size(series_path(self.evidence_dir, run_id)) is not None

    def artifact_path(self, run_id: str, name: str) -> Path | None:
        """The file of one listed artifact of the run that is a file; None for any other name, or a rendered one."""
        if any(item["name"] == name and item["bytes"] is not None for item in self.artifacts(run_id)):
            return self.folder / name
        return None

    def rendered_artifact(self, run_id: str, name: str) -> Iterator[str] | None:
        """The lines of a CSV the run lists as rendered (``bytes`` null), made from its columnar evidence as they
        are read; None for any other name."""
        listed = {item["name"]: item for item in self.artifacts(run_id)}
        item = listed.get(name)
        if item is None or item["bytes"] is not None:
            return None
        if item["type"] == "trades_csv":
            rows = read_trades(self.evidence_dir, run_id)
            return None if rows is None else trades_csv_lines(rows)
        series = self.series(run_id)
        return None if series is None else equity_csv_lines(series)

    # --- start-up ----------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, evidence_dir: Path, now_ms: Callable[[], int] = wall_ms) -> tuple[RunStore, list[str]]:
        """Rebuild from ``evidence_dir/backtest/run_*.json`` (blocking: call it in a thread). Returns the store and
        the ids of runs that were queued or running when the previous process died: they are now failed,
        "interrupted", and rewritten to disk. Every failed run's result files are removed (it has no result), and
        so are temp files of writes a crash cut off. Unreadable, foreign or mismatched files are skipped with a
        warning, never fatal."""
        store = cls(evidence_dir)
        folder = store.folder
        interrupted: list[str] = []
        if not folder.is_dir():
            return store, interrupted
        for name in remove_stale_temp_files(store.evidence_dir):
            log.warning("removed %s: a write cut off by the last shutdown", name)
        for path in sorted(folder.iterdir()):
            match = _FILE.match(path.name)
            if match is None or not is_run_id(match.group(1)):
                continue
            record = _read_record(path, match.group(1))
            if record is None:
                continue
            if record.status not in TERMINAL:
                record = record.replace(
                    status="failed", error="interrupted", finished_at=record.finished_at or now_ms()
                )
                try:
                    write_run_record(evidence_dir, record.to_wire())
                except OSError as exc:
                    log.warning("cannot rewrite interrupted run %s: %s", path, exc)
                interrupted.append(record.id)
            if record.status == "failed":
                removed = remove_result_files(store.evidence_dir, record.id)
                if removed:
                    log.warning("run %s (failed, %s): removed its partial result %s", record.id, record.error, removed)
            store.put(record, written=True)
        for name in remove_orphans(store.evidence_dir, set(store._records)):
            log.warning("removed %s: the result of a run whose record is gone (a delete cut off)", name)
        return store, interrupted


def _read_record(path: Path, run_id: str) -> RunRecord | None:
    """The record in one run file, or None (logged) if the file is not a run file we wrote."""
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a regular file")
        doc = read_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list) or len(doc["runs"]) != 1:
            raise ValueError("not {'runs': [one record]}")
        record = RunRecord.from_wire(doc["runs"][0])
        if record.id != run_id:
            raise ValueError(f"record id {record.id!r} does not match the file name")
    except (OSError, ValueError) as exc:
        log.warning("skipping evidence file %s: %s", path, exc)
        return None
    return record
