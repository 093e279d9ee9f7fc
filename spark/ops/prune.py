"""Retention: which runs to remove (`select`), and removing them through the running server or on the files.

A run is removed only once it has ended (done or failed). When the pid file names a live server, each run goes
through its API (``DELETE /api/backtest/<id>``): the server decides, audits and removes, and every list and stream
stays in step. With no server running the files are removed directly, in the server's order (the run record first,
fsynced, then its result files), so a crash in the middle leaves either the whole run or nothing listed; result files
left without a record are taken at the next start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from spark.errors import InputError
from spark.ids import is_run_id
from spark.service.evidence import RESULT_SUFFIXES, read_json, remove_run_files
from spark.service.record import TERMINAL, RunRecord

__all__ = ["Candidate", "on_disk", "parse_age", "prune_files", "prune_via_api", "select", "via_api"]

_AGE = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_age(text: str) -> int:
    """``30d``, ``12h``, ``2w``, ``90m`` -> milliseconds; InputError naming the flag otherwise."""
    match = _AGE.match(text.strip())
    if match is None:
        raise InputError(f"--older-than expects a number and a unit (m, h, d, w), like 30d; got {text!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A run that may be removed: its id, status, start time, and the bytes its files take (None over the API)."""

    id: str
    status: str
    started_at: int
    bytes: int | None = None


def select(runs: Iterable[Candidate], *, now_ms: int, older_than_ms: int | None, keep: int | None) -> list[Candidate]:
    """The ended runs to remove, oldest first: those started more than ``older_than_ms`` ago, or all but the newest
    ``keep`` (counting every run, queued and running ones too: they are never removed)."""
    ordered = sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True)  # newest first
    if keep is not None:
        chosen = ordered[keep:]
    else:
        assert older_than_ms is not None
        chosen = [r for r in ordered if r.started_at < now_ms - older_than_ms]
    return sorted((r for r in chosen if r.status in TERMINAL), key=lambda r: (r.started_at, r.id))


def on_disk(evidence_dir: Path) -> list[Candidate]:
    """The runs whose records are in ``evidence_dir/backtest``, with the bytes of their files."""
    folder = Path(evidence_dir) / "backtest"
    if not folder.is_dir():
        return []
    sizes: dict[str, int] = {}
    for path in folder.iterdir():
        run_id = path.name.removeprefix("run_")[:25]
        if is_run_id(run_id) and (path.name.startswith("run_") or path.name[25:] in RESULT_SUFFIXES):
            try:
                sizes[run_id] = sizes.get(run_id, 0) + path.stat().st_size
            except OSError:
                continue
    found = []
    for run_id in sorted(sizes):
        doc = read_json(folder / f"run_{run_id}.json")
        try:
            record = RunRecord.from_wire((doc or {}).get("runs", [None])[0])
        except (ValueError, IndexError, AttributeError):
            continue  # no record, or not ours: orphans are the server's to take at start-up
        found.append(Candidate(id=record.id, status=record.status, started_at=record.started_at, bytes=sizes[run_id]))
    return found


def prune_files(evidence_dir: Path, chosen: Iterable[Candidate], report: Callable[[Candidate], None]) -> int:
    """Remove the chosen runs' files (no server running); returns how many were removed."""
    count = 0
    for run in chosen:
        remove_run_files(Path(evidence_dir), run.id)
        report(run)
        count += 1
    return count


def via_api(http: httpx.Client) -> list[Candidate]:
    """Every run the server lists, paged with ``before=``."""
    found: list[Candidate] = []
    before: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 10_000, **({"before": before} if before else {})}
        response = http.get("/api/backtest", params=params)
        response.raise_for_status()
        page = response.json()["runs"]
        found += [Candidate(id=r["id"], status=r["status"], started_at=r["startedAt"]) for r in page]
        if len(page) < 10_000:
            return found
        before = page[-1]["id"]


def prune_via_api(http: httpx.Client, chosen: Iterable[Candidate], report: Callable[[Candidate], None]) -> int:
    """Delete the chosen runs through the server; a run that started meanwhile (409) or is gone (404) is skipped.
    Returns how many were deleted; raises InputError on a refusal that would refuse them all (401, 403, 404 of the
    route when writes are switched off)."""
    count = 0
    for run in chosen:
        response = http.delete(f"/api/backtest/{run.id}")
        if response.status_code == 200:
            report(run)
            count += 1
            continue
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        if response.status_code in (401, 403, 500) or (response.status_code == 404 and "switched off" in message):
            raise InputError(f"the server refused the delete ({response.status_code}): {message}")
    return count
