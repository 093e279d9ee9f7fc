"""Run records: the in-memory list every reader sees, kept in step with ``evidence/backtest/run_<id>.json``.

A record is the wire shape of DESIGN.md (camelCase). Records are never mutated in place: a change builds a new dict
and bumps the run's version, so a reader holding a record holds a consistent one. Listing newest first costs
O(limit), whatever the history size. Writes to disk go through `RunStore.flush`, which serialises the writes of one
run and never lets an older version overwrite a newer one. `RunStore.load` rebuilds the list at start-up: files that
do not parse or are not ours are skipped and logged; runs cut off by a crash come back failed, "interrupted".
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import trio

from spark.ids import is_run_id
from spark.plugin.request import RunRequest
from spark.service.evidence import read_equity, result_summary, series_path, summary_path, write_run_record

__all__ = ["STATUSES", "TERMINAL", "RunStore", "artifact_names", "new_record", "wall_ms"]

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed")
TERMINAL = ("done", "failed")
_FILE = re.compile(r"^run_(.+)\.json$")
_KEYS = (
    "id",
    "status",
    "pair",
    "timeframe",
    "notes",
    "strategy",
    "params",
    "feed",
    "options",
    "impl",
    "startedAt",
    "finishedAt",
    "progress",
    "error",
    "stats",
)


def wall_ms() -> int:
    """Wall-clock epoch milliseconds: only for timestamps that are recorded."""
    return time.time_ns() // 1_000_000


def new_record(run_id: str, request: RunRequest, *, impl: str, started_at: int) -> dict[str, Any]:
    """The record of a run just queued."""
    return {
        "id": run_id,
        "status": "queued",
        "pair": request.pair,
        "timeframe": request.timeframe,
        "notes": request.notes,
        "strategy": request.strategy,
        "params": dict(request.params),
        "feed": request.feed_json(),
        "options": request.options_json(),
        "impl": impl,
        "startedAt": started_at,
        "finishedAt": None,
        "progress": 0.0,
        "error": None,
        "stats": None,
    }


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
        self.evidence_dir = evidence_dir
        self.folder = evidence_dir / "backtest"
        self.threads = threads  # False: write inline (deterministic under a mock clock in tests)
        self._records: dict[str, dict[str, Any]] = {}
        self._index: list[tuple[int, str]] = []  # (startedAt, id), ascending
        self._version: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._locks: dict[str, trio.Lock] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._records

    def get(self, run_id: str) -> dict[str, Any] | None:
        """A copy of the record, or None."""
        record = self._records.get(run_id)
        return None if record is None else dict(record)

    def status(self, run_id: str) -> str | None:
        record = self._records.get(run_id)
        return None if record is None else record["status"]

    def list(self, limit: int | None = 100) -> list[dict[str, Any]]:
        """Copies of the newest ``limit`` records (all with None), newest first."""
        keys = self._index if limit is None else self._index[len(self._index) - max(0, limit) :]
        return [dict(self._records[run_id]) for _, run_id in reversed(keys)]

    def put(self, record: dict[str, Any]) -> int:
        """Insert or replace a whole record; returns its new version."""
        run_id = record["id"]
        old = self._records.get(run_id)
        if old is not None and old["startedAt"] != record["startedAt"]:
            self._index.remove((old["startedAt"], run_id))
            old = None
        if old is None:
            bisect.insort(self._index, (record["startedAt"], run_id))
        self._records[run_id] = record
        version = self._version.get(run_id, 0) + 1
        self._version[run_id] = version
        return version

    def update(self, run_id: str, **changes: Any) -> tuple[dict[str, Any], int]:
        """Replace the record by a copy with ``changes``; returns (new record, version)."""
        record = {**self._records[run_id], **changes}
        return record, self.put(record)

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
                record = self._records[run_id]
                if self.threads:
                    await trio.to_thread.run_sync(write_run_record, self.evidence_dir, record)
                else:
                    write_run_record(self.evidence_dir, record)
                created = run_id not in self._written
                self._written[run_id] = current
                return created
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._locks.pop(run_id, None)  # nobody holds or waits for it: no lock per run kept forever

    def result(self, run_id: str) -> dict[str, Any] | None:
        """The result document of a known run (``<id>.json``), or None (no file yet, unreadable, unknown id)."""
        if not is_run_id(run_id) or run_id not in self._records:
            return None
        try:
            doc = json.loads((self.folder / f"{run_id}.json").read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        return doc if isinstance(doc, dict) else None

    def summary(self, run_id: str) -> dict[str, Any] | None:
        """The result without per-bar or per-trade arrays (``<id>.summary.json``, small), or None. Evidence
        written before the compact forms existed falls back to the full result."""
        if not is_run_id(run_id) or run_id not in self._records:
            return None
        try:
            doc = json.loads(summary_path(self.evidence_dir, run_id).read_bytes())
        except FileNotFoundError:
            full = self.result(run_id)
            return None if full is None else result_summary(full)
        except (OSError, ValueError, RecursionError):
            return None
        return doc if isinstance(doc, dict) else None

    def equity(self, run_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(timestamps, equity) per bar of a done run, memory-mapped from ``<id>.equity.npy``; or None. Evidence
        written before the compact forms existed falls back to the full result."""
        if not is_run_id(run_id) or run_id not in self._records:
            return None
        series = read_equity(self.evidence_dir, run_id)
        if series is not None or series_path(self.evidence_dir, run_id).exists():
            return series
        report = (self.result(run_id) or {}).get("report")
        if not isinstance(report, dict) or not isinstance(report.get("equity"), list):
            return None
        try:
            equity = np.asarray(report["equity"], dtype=np.float64)
            timestamps = np.asarray(report.get("timestamp", range(len(equity))), dtype=np.int64)
        except (TypeError, ValueError):
            return None
        return (timestamps, equity) if timestamps.shape == equity.shape and equity.ndim == 1 else None

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """``[{type, name, url, bytes}]`` for the known run's files that exist (regular files, no symlinks)."""
        if not is_run_id(run_id) or run_id not in self._records:
            return []
        found = []
        for kind, name in artifact_names(run_id).items():
            path = self.folder / name
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                size = path.stat().st_size
            except OSError:
                continue
            found.append({"type": kind, "name": name, "url": f"/api/backtest/{run_id}/artifacts/{name}", "bytes": size})
        return found

    def artifact_path(self, run_id: str, name: str) -> Path | None:
        """The path of one listed artifact of the run; None for any other name."""
        if any(item["name"] == name for item in self.artifacts(run_id)):
            return self.folder / name
        return None

    @classmethod
    def load(cls, evidence_dir: Path, now_ms: Callable[[], int] = wall_ms) -> tuple[RunStore, list[str]]:
        """Rebuild from ``evidence_dir/backtest/run_*.json`` (blocking: call it in a thread). Returns the store and
        the ids of runs that were queued or running when the previous process died: they are now failed,
        "interrupted", and rewritten to disk. Unreadable, foreign or mismatched files are skipped with a warning,
        never fatal."""
        store = cls(evidence_dir)
        folder = store.folder
        interrupted: list[str] = []
        if not folder.is_dir():
            return store, interrupted
        for path in sorted(folder.iterdir()):
            match = _FILE.match(path.name)
            if match is None or not is_run_id(match.group(1)):
                continue
            record = _read_record(path, match.group(1))
            if record is None:
                continue
            if record["status"] not in TERMINAL:
                record = {
                    **record,
                    "status": "failed",
                    "error": "interrupted",
                    "finishedAt": record["finishedAt"] or now_ms(),
                }
                try:
                    write_run_record(evidence_dir, record)
                except OSError as exc:
                    log.warning("cannot rewrite interrupted run %s: %s", path, exc)
                interrupted.append(record["id"])
            store.put(record)
            store._written[record["id"]] = store._version[record["id"]]
        return store, interrupted


def _read_record(path: Path, run_id: str) -> dict[str, Any] | None:
    """The record in one run file, or None (logged) if the file is not a run file we wrote."""
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a regular file")
        doc = json.loads(path.read_bytes())
        runs = doc["runs"]
        if not isinstance(runs, list) or len(runs) != 1 or not isinstance(runs[0], dict):
            raise ValueError("'runs' is not a list of one record")
        record = runs[0]
        if record.get("id") != run_id:
            raise ValueError(f"record id {record.get('id')!r} does not match the file name")
        if record.get("status") not in STATUSES:
            raise ValueError(f"unknown status {record.get('status')!r}")
        started = record.get("startedAt")
        if isinstance(started, bool) or not isinstance(started, int):
            raise ValueError("startedAt is not an integer")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        log.warning("skipping evidence file %s: %s", path, exc)
        return None
    return {key: record.get(key) for key in _KEYS} | {
        "progress": record.get("progress") if isinstance(record.get("progress"), (int, float)) else 0.0
    }
