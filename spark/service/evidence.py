"""Evidence files, written atomically: a reader sees the old file or the new one, never a part of either.

Each write goes to a temp file in the same folder (``.<name>.<random>.tmp``), is flushed and fsynced, renamed over
the target with ``os.replace`` (atomic on POSIX), and the folder is fsynced so the rename survives a crash. On any
error the temp file is removed and the error propagates: the previous file, if any, is left as it was.

Layout under ``evidence_dir`` (``SPARK_EVIDENCE_DIR``, default ``./evidence``)::

    backtest/<id>.json           the full result {id, report, metadata, ...}
    backtest/<id>.summary.json   the result without per-bar or per-trade arrays (what a detail view shows)
    backtest/<id>.equity.npy     timestamps and equity per bar, float64 (2, n): read without parsing the result
    backtest/run_<id>.json       {"runs": [record]}, rewritten on every status change
    backtest/<id>_trades.csv     one line per trade
    backtest/<id>_equity.csv     equity and drawdown per bar

Ids are checked against the run-id format before any path is built from them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import BacktestResult, equity_csv, trades_csv
from spark.ids import check_run_id

__all__ = [
    "artifact_paths",
    "read_equity",
    "result_path",
    "result_summary",
    "run_record_path",
    "series_path",
    "summary_path",
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


def result_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result document without its per-bar and per-trade arrays: ``{id, report, metadata}`` with only the
    scalar (and small-object) fields, which is what a detail view shows at once."""
    out: dict[str, Any] = {"id": result.get("id")}
    for key in ("report", "metadata"):
        part = result.get(key)
        if isinstance(part, Mapping):
            out[key] = {
                k: v
                for k, v in part.items()
                if not isinstance(v, list | tuple)
                and not (isinstance(v, Mapping) and any(isinstance(x, list) for x in v.values()))
            }
    return out


def write_result(evidence_dir: Path, result: Mapping[str, Any]) -> Path:
    """Write ``backtest/<id>.json`` (the full result document, ``result.to_dict()``) and, before it, its compact
    forms: ``<id>.summary.json`` and ``<id>.equity.npy``, so the service answers a detail or an equity request
    for a 1,000,000-bar run without parsing a 60 MB document on its event loop. Returns the full result's path.
    """
    missing = [key for key in ("id", "report", "metadata") if key not in result]
    if missing:
        raise ValueError(f"a result needs {', '.join(missing)}")
    report = result["report"]
    equity = np.asarray(report.get("equity", ()), dtype=np.float64)
    timestamps = np.asarray(report.get("timestamp", np.arange(len(equity))), dtype=np.float64)
    if timestamps.shape != equity.shape:
        raise ValueError("a result's timestamp and equity columns differ in length")
    buffer = io.BytesIO()
    np.save(buffer, np.stack([timestamps, equity]), allow_pickle=False)
    write_bytes_atomic(series_path(evidence_dir, result["id"]), buffer.getvalue())
    write_json_atomic(summary_path(evidence_dir, result["id"]), result_summary(result))
    path = result_path(evidence_dir, result["id"])
    write_json_atomic(path, dict(result))
    return path


def read_equity(evidence_dir: Path, run_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(timestamps as int64, equity) of a run from ``<id>.equity.npy``, memory-mapped; None when the file is
    missing or not the shape written by `write_result`."""
    try:
        series = np.load(series_path(evidence_dir, run_id), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if series.ndim != 2 or series.shape[0] != 2 or series.dtype != np.float64:
        return None
    return series[0].astype(np.int64), np.asarray(series[1])


def write_run_record(evidence_dir: Path, record: Mapping[str, Any]) -> Path:
    """Write ``backtest/run_<id>.json`` = ``{"runs": [record]}`` (the seed's shape); returns its path."""
    path = run_record_path(evidence_dir, record.get("id"))
    write_json_atomic(path, {"runs": [dict(record)]}, indent=2)
    return path


def artifact_paths(evidence_dir: Path, run_id: str) -> dict[str, Path]:
    """``{"trades_csv": .../<id>_trades.csv, "equity_csv": .../<id>_equity.csv}``."""
    folder = Path(evidence_dir) / "backtest"
    run_id = check_run_id(run_id)
    return {"trades_csv": folder / f"{run_id}_trades.csv", "equity_csv": folder / f"{run_id}_equity.csv"}


def write_artifacts(evidence_dir: Path, result: BacktestResult | Mapping[str, Any]) -> dict[str, Path]:
    """Write ``<id>_trades.csv`` and ``<id>_equity.csv``; returns ``{type: path}``.

    Takes the BacktestResult (the CLI) or its ``to_dict()`` document (a service worker hands back the document);
    both give the same bytes, in the engine's CSV format.
    """
    if isinstance(result, BacktestResult):
        run_id, trades, equity = result.id, trades_csv(result), equity_csv(result)
    else:
        run_id, trades, equity = result["id"], _trades_csv(result["report"]), _equity_csv(result["report"])
    paths = artifact_paths(evidence_dir, run_id)
    write_text_atomic(paths["trades_csv"], trades)
    write_text_atomic(paths["equity_csv"], equity)
    return paths


_TRADE_FIELDS = (
    "id",
    "side",
    "qty",
    "entryBar",
    "entryTs",
    "entryPrice",
    "exitBar",
    "exitTs",
    "exitPrice",
    "pnl",
    "fees",
    "open",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _trades_csv(report: Mapping[str, Any]) -> str:
    header = "id,side,qty,entry_bar,entry_ts,entry_price,exit_bar,exit_ts,exit_price,pnl,fees,open"
    lines = [header] + [
        ",".join(_cell(t[key] if key != "qty" else float(t[key])) for key in _TRADE_FIELDS) for t in report["trades"]
    ]
    return "\n".join(lines) + "\n"


def _equity_csv(report: Mapping[str, Any]) -> str:
    rows = zip(report["timestamp"], report["equity"], report["drawdownPct"], strict=True)
    return "timestamp,equity,drawdown_pct\n" + "".join(f"{ts},{float(eq)!r},{float(dd)!r}\n" for ts, eq, dd in rows)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
