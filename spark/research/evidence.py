"""A sweep's evidence folder, ``evidence/sweeps/<id>/``: ``sweep.json`` (spec, executor, chunking, seeds, status,
best, per-fold results), ``results.npy`` (one row per parameter set, by index) and ``optuna.journal`` (TPE).

Every file is written atomically (a temp file, fsync, rename, fsync of the folder), so a reader sees the old
document or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from spark.errors import InputError

__all__ = ["SWEEP_ID", "check_sweep_id", "read_sweep", "sweep_folder", "write_json", "write_table"]

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


def read_sweep(folder: Path) -> tuple[dict[str, Any], np.ndarray | None]:
    """``sweep.json`` and ``results.npy`` (None when not written yet)."""
    doc = json.loads((folder / SWEEP_JSON).read_text())
    table = np.load(folder / RESULTS, allow_pickle=False) if (folder / RESULTS).exists() else None
    return doc, table
