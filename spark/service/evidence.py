"""Evidence files, written atomically: a reader sees the old file or the new one, never a part of either.

Each write goes to a temp file in the same folder (``.<name>.<random>.tmp``), is flushed and fsynced, renamed over
the target with ``os.replace`` (atomic on POSIX), and the folder is fsynced so the rename survives a crash. On any
error the temp file is removed and the error propagates: the previous file, if any, is left as it was.

Layout under ``evidence_dir`` (``SPARK_EVIDENCE_DIR``, default ``./evidence``)::

    backtest/<id>.json           the full result {id, report, metadata, ...}
    backtest/<id>.summary.json   the result without per-bar or per-trade arrays (what a detail view shows)
    backtest/<id>.series.npz     per bar: equity (float64) and time (a start and uint32 steps, or int64 stamps),
                                 with the starting cash; drawdown is derived from them on read (`Series`)
    backtest/<id>.trades.npy     one row per trade, float64 (n, 12): TRADE_COLUMNS (markers, the trades route)
    backtest/<id>.gates.npz      a run with risk gates only: its denials and account states (`spark.service.denials`)
    backtest/run_<id>.json       {"runs": [record]}, rewritten on every status change
    backtest/<id>_trades.csv     one line per trade      } rendered from the two files above when downloaded;
    backtest/<id>_equity.csv     equity and drawdown per bar } written as files only by `spark backtest --csv`

Ids are checked against the run-id format before any path is built from them. Readers (`read_series`,
`read_json`) open files without following symlinks and only regular files: a link planted in the folder is not
evidence. `remove_result_files` takes back what a run that did not end done may have left.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import BacktestResult, equity_csv, trades_csv
from spark.ids import check_run_id, is_run_id
from spark.service.columns import (
    TRADE_COLUMNS,
    Series,
    equity_csv_lines,
    load_legacy_series,
    load_series,
    load_trades,
    time_columns,
    trade_rows,
    trades_csv_lines,
)
from spark.service.denials import gates_bytes

__all__ = [
    "RESULT_SUFFIXES",
    "TRADE_COLUMNS",
    "Series",
    "artifact_paths",
    "equity_csv_lines",
    "gates_path",
    "legacy_series_path",
    "read_json",
    "read_series",
    "read_trades",
    "remove_orphans",
    "remove_result_files",
    "remove_run_files",
    "remove_stale_temp_files",
    "result_path",
    "run_record_path",
    "series_path",
    "summary_path",
    "trade_rows",
    "trades_csv_lines",
    "trades_path",
    "write_artifacts",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_records_atomic",
    "write_result",
    "write_run_record",
    "write_text_atomic",
]


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably (creating its folder if needed), with ``mode``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_records_atomic(evidence_dir: Path, records: list[Mapping[str, Any]]) -> list[BaseException | None]:
    """Write many run records (``run_<id>.json``) atomically and durably with two flushes in all, not two each:
    every temp file is written, the filesystem is synced once (``syncfs``; a fsync per file where there is none),
    each is renamed into place, and the folder is fsynced once. Returns, per record, None or the error that
    kept it from disk (a record that cannot be serialised or written never stops the others)."""
    outcome: list[BaseException | None] = [None] * len(records)
    staged: list[tuple[int, str, Path]] = []
    folder = Path(evidence_dir) / "backtest"
    for i, record in enumerate(records):
        try:
            path = run_record_path(evidence_dir, record.get("id"))
            data = (json.dumps({"runs": [dict(record)]}, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o644)
                fh.write(data)
            staged.append((i, tmp, path))
        except (OSError, ValueError, TypeError) as exc:
            outcome[i] = exc
    if staged:
        try:
            _sync_files(folder, [tmp for _, tmp, _ in staged])
            for i, tmp, path in staged:
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    outcome[i] = exc
            _fsync_dir(folder)
        except OSError as exc:
            for i, _, _ in staged:
                outcome[i] = outcome[i] or exc
        for i, tmp, _ in staged:
            if outcome[i] is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    return outcome


def _sync_files(folder: Path, paths: list[str]) -> None:
    """Make the data of ``paths`` durable: one ``syncfs`` of their filesystem, else a fsync each."""
    if _SYNCFS is not None:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def write_text_atomic(path: Path, text: str) -> None:
    """UTF-8 ``text`` to ``path``, atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: Any, *, indent: int | None = None) -> None:
    """``obj`` as JSON (no NaN or Infinity: strict JSON any client can read), atomically.

    Serialisation happens before any file is touched, so an object that cannot be written changes nothing.
    """
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(obj, indent=indent, separators=separators, ensure_ascii=False, allow_nan=False)
    write_text_atomic(path, text + "\n")


def result_path(evidence_dir: Path, run_id: str) -> Path:
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.json"


def run_record_path(evidence_dir: Path, run_id: str) -> Path:
    return Path(evidence_dir) / "backtest" / f"run_{check_run_id(run_id)}.json"


def summary_path(evidence_dir: Path, run_id: str) -> Path:
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.summary.json"


def series_path(evidence_dir: Path, run_id: str) -> Path:
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.series.npz"


def legacy_series_path(evidence_dir: Path, run_id: str) -> Path:
    """Where evidence from before schema 2 kept its per-bar series: a (2..4, n) float64 ``<id>.equity.npy``."""
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.equity.npy"


def trades_path(evidence_dir: Path, run_id: str) -> Path:
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.trades.npy"


def gates_path(evidence_dir: Path, run_id: str) -> Path:
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.gates.npz"


# What a run's result consists of, by file-name suffix after the id (the run record `run_<id>.json` is not part).
RESULT_SUFFIXES = (
    ".json",
    ".summary.json",
    ".series.npz",
    ".equity.npy",
    ".trades.npy",
    ".gates.npz",
    "_trades.csv",
    "_equity.csv",
)


def write_result(evidence_dir: Path, result: BacktestResult) -> Path:
    """Write ``backtest/<id>.json`` (the result document: stats, trades, fills, no per-bar arrays) and, before it,
    its compact forms: ``<id>.series.npz`` (equity and time per bar), ``<id>.trades.npy`` and
    ``<id>.summary.json``, so the service answers a detail, a chart or a trade page of a 1,000,000-bar run without
    parsing a document. Returns the result's path."""
    if not isinstance(result, BacktestResult):
        raise TypeError(f"write_result takes a BacktestResult, got {type(result).__name__}")
    run_id = check_run_id(result.id)
    report = result.report
    buffer = io.BytesIO()
    cash = np.array([result.metadata["options"]["cash"]], dtype=np.float64)
    np.savez(buffer, equity=report.equity, cash=cash, **time_columns(report.timestamp))
    write_bytes_atomic(series_path(evidence_dir, run_id), buffer.getvalue())
    buffer = io.BytesIO()
    np.save(buffer, trade_rows(result), allow_pickle=False)
    write_bytes_atomic(trades_path(evidence_dir, run_id), buffer.getvalue())
    gated = gates_bytes(result)
    if gated is not None:
        write_bytes_atomic(gates_path(evidence_dir, run_id), gated)
    write_json_atomic(summary_path(evidence_dir, run_id), result.to_dict(arrays=False))
    path = result_path(evidence_dir, run_id)
    write_text_atomic(path, result.to_json() + "\n")
    return path


def read_series(evidence_dir: Path, run_id: str) -> Series | None:
    """The per-bar series of a run (``<id>.series.npz``, or the ``<id>.equity.npy`` of schema 1); None when it is
    missing, a symlink, not a regular file, or not the shape written (`spark.service.columns`)."""
    series = load_series(series_path(evidence_dir, run_id))
    return series if series is not None else load_legacy_series(legacy_series_path(evidence_dir, run_id))


def read_trades(evidence_dir: Path, run_id: str) -> np.ndarray | None:
    """The run's trade table (TRADE_COLUMNS) from ``<id>.trades.npy``, or None (missing, planted, damaged)."""
    return load_trades(trades_path(evidence_dir, run_id))


def read_json(path: Path) -> Any:
    """A JSON document from a regular file reached without a symlink; None when there is none or it does not
    parse (a torn or foreign file is not evidence)."""
    try:
        fd = _open_regular(path)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError, RecursionError):
        return None


def _open_regular(path: Path) -> int:
    """A read-only descriptor of ``path`` if it is a regular file and not a symlink; OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return fd


def write_run_record(evidence_dir: Path, record: Mapping[str, Any]) -> Path:
    """Write ``backtest/run_<id>.json`` = ``{"runs": [record]}`` (the seed's shape; ``record`` in its wire form);
    returns its path."""
    path = run_record_path(evidence_dir, record.get("id"))
    write_json_atomic(path, {"runs": [dict(record)]}, indent=2)
    return path


def artifact_paths(evidence_dir: Path, run_id: str) -> dict[str, Path]:
    """``{"trades_csv": .../<id>_trades.csv, "equity_csv": .../<id>_equity.csv}``."""
    folder = Path(evidence_dir) / "backtest"
    run_id = check_run_id(run_id)
    return {"trades_csv": folder / f"{run_id}_trades.csv", "equity_csv": folder / f"{run_id}_equity.csv"}


def write_artifacts(evidence_dir: Path, result: BacktestResult) -> dict[str, Path]:
    """Write ``<id>_trades.csv`` and ``<id>_equity.csv`` in the engine's CSV format; returns ``{type: path}``."""
    paths = artifact_paths(evidence_dir, result.id)
    write_text_atomic(paths["trades_csv"], trades_csv(result))
    write_text_atomic(paths["equity_csv"], equity_csv(result))
    return paths


def remove_result_files(evidence_dir: Path, run_id: str) -> list[str]:
    """Remove what a run's execution wrote (`RESULT_SUFFIXES`) and its temp files, never its run record: a run
    that did not end done (cancelled, interrupted, failed) has no result. Returns the names removed."""
    folder = Path(evidence_dir) / "backtest"
    run_id = check_run_id(run_id)
    names = [f"{run_id}{suffix}" for suffix in RESULT_SUFFIXES]
    removed: list[str] = []
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
            removed.append(name)
    with contextlib.suppress(FileNotFoundError):
        for path in folder.glob(f".{run_id}*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return removed


def remove_run_files(evidence_dir: Path, run_id: str) -> list[str]:
    """Delete a run: its record first (so a crash in the middle leaves the run gone, not listed half), fsynced,
    then its result files (a crash leaves orphans, which `remove_orphans` takes at the next start-up)."""
    record = run_record_path(evidence_dir, run_id)
    removed: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        record.unlink()
        removed.append(record.name)
    with contextlib.suppress(FileNotFoundError):
        _fsync_dir(record.parent)
    return removed + remove_result_files(evidence_dir, run_id)


def remove_orphans(evidence_dir: Path, known: set[str]) -> list[str]:
    """Remove result files of runs that have no record (a delete cut off by a crash); returns the names removed.
    Only names of the result layout (a run id, then a RESULT_SUFFIXES suffix) are touched."""
    folder = Path(evidence_dir) / "backtest"
    removed: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        for path in folder.iterdir():
            run_id = path.name[:25]
            if is_run_id(run_id) and run_id not in known and path.name[25:] in RESULT_SUFFIXES:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path.name)
    return removed


def remove_stale_temp_files(evidence_dir: Path) -> list[str]:
    """Remove every temp file an atomic write left behind (``.<name>.<random>.tmp``): call it only at start-up,
    before anything writes. Returns the names removed."""
    folder = Path(evidence_dir) / "backtest"
    removed: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        for path in folder.glob(".*.tmp"):
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path.name)
    return removed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
