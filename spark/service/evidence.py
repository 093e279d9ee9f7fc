"""Evidence files, written atomically: a reader sees the old file or the new one, never a part of either.

Each write goes to a temp file in the same folder (``.<name>.<random>.tmp``), is flushed and fsynced, renamed over
the target with ``os.replace`` (atomic on POSIX), and the folder is fsynced so the rename survives a crash. On any
error the temp file is removed and the error propagates: the previous file, if any, is left as it was.

Layout under ``evidence_dir`` (``SPARK_EVIDENCE_DIR``, default ``./evidence``)::

    backtest/<id>.json           the full result {id, report, metadata, ...}
    backtest/<id>.summary.json   the result without per-bar or per-trade arrays (what a detail view shows)
    backtest/<id>.equity.npy     timestamp, equity, drawdown (a positive percent), buy and hold per bar (4, n)
    backtest/<id>.trades.npy     one row per trade, float64 (n, 10): TRADE_COLUMNS (the report view's markers)
    backtest/run_<id>.json       {"runs": [record]}, rewritten on every status change
    backtest/<id>_trades.csv     one line per trade
    backtest/<id>_equity.csv     equity and drawdown per bar

Ids are checked against the run-id format before any path is built from them. Readers (`read_series`,
`read_json`) open files without following symlinks and only regular files: a link planted in the folder is not
evidence. `remove_result_files` takes back what a run that did not end done may have left.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import BacktestResult, equity_csv, trades_csv
from spark.ids import check_run_id, is_run_id

__all__ = [
    "RESULT_SUFFIXES",
    "TRADE_COLUMNS",
    "Series",
    "artifact_paths",
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
    "trades_path",
    "write_artifacts",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_result",
    "write_run_record",
    "write_text_atomic",
]


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (creating its folder if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o644)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


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
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.equity.npy"


def trades_path(evidence_dir: Path, run_id: str) -> Path:
    return Path(evidence_dir) / "backtest" / f"{check_run_id(run_id)}.trades.npy"


# What a run's result consists of, by file-name suffix after the id (the run record `run_<id>.json` is not part).
RESULT_SUFFIXES = (".json", ".summary.json", ".equity.npy", ".trades.npy", "_trades.csv", "_equity.csv")
# Columns of <id>.trades.npy: side is +1 long / -1 short; exit_ts and exit_price are NaN for a trade still open.
TRADE_COLUMNS = ("id", "side", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price", "pnl", "fees", "open")


def trade_rows(result: BacktestResult) -> np.ndarray:
    """The trades as a float64 (n, 10) table in TRADE_COLUMNS order (times in epoch ms, exact in a float64)."""
    table = result.report.trades.array
    ts = result.report.timestamp.astype(np.float64)
    rows = np.empty((len(table), len(TRADE_COLUMNS)), dtype=np.float64)
    if len(table):
        is_open = table[:, 9] == 1.0
        rows[:, 0], rows[:, 1], rows[:, 2] = table[:, 0], np.sign(table[:, 1]), table[:, 2]
        rows[:, 3], rows[:, 4] = ts[table[:, 3].astype(np.int64)], table[:, 5]
        rows[:, 5] = np.where(is_open, np.nan, ts[table[:, 4].astype(np.int64)])
        rows[:, 6] = np.where(is_open, np.nan, table[:, 6])
        rows[:, 7], rows[:, 8], rows[:, 9] = table[:, 7], table[:, 8], is_open
    return rows


@dataclass(frozen=True, slots=True)
class Series:
    """Per-bar timestamp (int64 epoch ms), equity, drawdown (a positive percent below the running peak) and the
    buy-and-hold benchmark (the starting cash in the instrument, no costs; None in evidence from before it)."""

    timestamp: np.ndarray
    equity: np.ndarray
    drawdown_pct: np.ndarray
    benchmark: np.ndarray | None = None


def write_result(evidence_dir: Path, result: BacktestResult) -> Path:
    """Write ``backtest/<id>.json`` (the full result document) and, before it, its compact forms:
    ``<id>.equity.npy`` (timestamp, equity, drawdown) and ``<id>.summary.json`` (the result without per-bar or
    per-trade arrays), so the service answers a detail or an equity request for a 1,000,000-bar run without
    parsing a 60 MB document. Returns the full result's path."""
    if not isinstance(result, BacktestResult):
        raise TypeError(f"write_result takes a BacktestResult, got {type(result).__name__}")
    run_id = check_run_id(result.id)
    report = result.report
    buffer = io.BytesIO()
    benchmark = report.benchmark if report.benchmark is not None else np.full(len(report.equity), np.nan)
    columns = (report.timestamp.astype(np.float64), report.equity, report.drawdown_pct, benchmark)
    np.save(buffer, np.stack(columns), allow_pickle=False)
    write_bytes_atomic(series_path(evidence_dir, run_id), buffer.getvalue())
    buffer = io.BytesIO()
    np.save(buffer, trade_rows(result), allow_pickle=False)
    write_bytes_atomic(trades_path(evidence_dir, run_id), buffer.getvalue())
    write_json_atomic(summary_path(evidence_dir, run_id), result.to_dict(arrays=False))
    path = result_path(evidence_dir, run_id)
    write_text_atomic(path, result.to_json() + "\n")
    return path


def read_series(evidence_dir: Path, run_id: str) -> Series | None:
    """The per-bar series of a run from ``<id>.equity.npy`` (memory-mapped), or None when it is missing, a
    symlink, not a regular file, or not the shape `write_result` writes. Files from before drawdown was stored
    (two rows) get it computed from the equity (the running peak of the curve itself)."""
    path = series_path(evidence_dir, run_id)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):  # a symlink or anything but a file: not evidence
            return None
        series = np.load(path, mmap_mode="r", allow_pickle=False)  # memory maps need a path, not a descriptor
    except (OSError, ValueError, EOFError):
        return None
    if series.ndim != 2 or series.shape[0] not in (2, 3, 4) or series.dtype != np.float64:
        return None
    equity = np.asarray(series[1])
    benchmark = np.asarray(series[3]) if series.shape[0] == 4 and np.isfinite(series[3]).all() else None
    if series.shape[0] >= 3:
        drawdown = np.asarray(series[2])
    else:
        peak = np.maximum.accumulate(equity)
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = np.where(peak > 0, (1.0 - equity / peak) * 100.0, 0.0)
    return Series(timestamp=series[0].astype(np.int64), equity=equity, drawdown_pct=drawdown, benchmark=benchmark)


def read_trades(evidence_dir: Path, run_id: str) -> np.ndarray | None:
    """The run's trade table (TRADE_COLUMNS) from ``<id>.trades.npy``, or None (missing, planted, damaged)."""
    path = trades_path(evidence_dir, run_id)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if rows.ndim != 2 or rows.shape[1] != len(TRADE_COLUMNS) or rows.dtype != np.float64:
        return None
    return rows


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
