"""A sweep's evidence folder, ``evidence/sweeps/<id>/``: ``sweep.json`` (spec, executor, chunking, seeds, status,
best, per-fold results), ``results.npy`` (one row per parameter set, by index) and ``optuna.journal`` (TPE).

Every file is written atomically (a temp file, fsync, rename, fsync of the folder), so a reader sees the old
document or the new one, never half of one. Both drivers record their run the same way: `candles_doc` is the data
block of ``sweep.json``, and `recording` writes a failure (``cancelled`` or the error) before it propagates.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import Candles
from spark.errors import InputError
from spark.ids import wall_ms
from spark.research.jobs import Cancelled

__all__ = [
    "SWEEP_ID",
    "candles_doc",
    "check_sweep_id",
    "read_sweep",
    "recording",
    "sweep_folder",
    "write_json",
    "write_table",
]

SWEEP_ID = re.compile(r"^(sw|wf)-[0-9]{13}-[0-9a-f]{8}$")
SWEEP_JSON, RESULTS, JOURNAL = "sweep.json", "results.npy", "optuna.journal"


def check_sweep_id(value: object) -> str:
    if not isinstance(value, str) or not SWEEP_ID.fullmatch(value):
        raise InputError(f"not a sweep id: {str(value)[:40]!r} (expected sw-|wf-<13 digits>-<8 hex>)", field="id")
    return value


def sweep_folder(evidence_dir: Path | str, sweep_id: str) -> Path:
    return Path(evidence_dir) / "sweeps" / check_sweep_id(sweep_id)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_json(folder: Path, doc: dict[str, Any]) -> None:
    _atomic(folder / SWEEP_JSON, lambda fh: fh.write(json.dumps(doc, separators=(",", ":")).encode()))


def write_table(folder: Path, table: np.ndarray) -> None:
    _atomic(folder / RESULTS, lambda fh: np.save(fh, table, allow_pickle=False))


def read_sweep(folder: Path, *, table: bool = True) -> tuple[dict[str, Any], np.ndarray | None]:
    """``sweep.json`` and ``results.npy`` (None when not written yet, or not asked for)."""
    doc = json.loads((folder / SWEEP_JSON).read_text())
    rows = None
    if table and (folder / RESULTS).exists():
        rows = np.load(folder / RESULTS, allow_pickle=False)
    return doc, rows


def candles_doc(candles: Candles) -> dict[str, Any]:
    """The ``data`` block of ``sweep.json``: which candles were swept."""
    return {
        "symbol": candles.symbol,
        "timeframe": candles.timeframe,
        "bars": len(candles),
        "dataHash": candles.fingerprint,
    }


@contextmanager
def recording(folder: Path | None, doc: dict[str, Any], close: Callable[[], None] | None) -> Iterator[None]:
    """Around a driver's evaluation: ``close`` (the executor's, when the driver owns it) is called on the way out
    either way; then a failure is recorded in ``doc`` and (with a ``folder``) ``sweep.json`` as ``failed``, its
    ``error`` ``cancelled`` or the error's text, and propagates."""
    try:
        yield
    except BaseException as exc:
        if close is not None:
            close()
        if folder is not None:
            doc.update(
                status="failed",
                finishedAt=wall_ms(),
                error="cancelled" if isinstance(exc, Cancelled) else str(exc) or type(exc).__name__,
            )
            write_json(folder, doc)
        raise
    if close is not None:
        close()
