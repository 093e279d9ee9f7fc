"""The compact columnar forms of a run's result, and their CSV renderings: what the service reads to draw a
1,000,000-bar run without parsing its document.

- the per-bar series (`Series`): equity as float64 and time as a start and uint32 steps (4 bytes a bar; int64
  stamps when a step exceeds 49 days), with the starting cash, in an uncompressed ``.npz``; drawdown is derived
  on read, bit for bit as the engine computes it (`spark.engine.curve.drawdown_from`);
- the trade table (TRADE_COLUMNS), float64 (n, 12) in a ``.npy``;
- the trades and equity CSVs, rendered from those byte for byte as `spark.engine.trades_csv`/`equity_csv` would.

Readers never follow a symlink and refuse anything but the shapes written. Paths are the caller's
(`spark.service.evidence` lays them out).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spark.engine import BacktestResult
from spark.engine.curve import drawdown_from

__all__ = [
    "TRADE_COLUMNS",
    "Series",
    "equity_csv_lines",
    "load_legacy_series",
    "load_series",
    "load_trades",
    "time_columns",
    "trade_rows",
    "trades_csv_lines",
]

# Columns of <id>.trades.npy: side is +1 long / -1 short; exit_* are NaN for a trade still open.
TRADE_COLUMNS = (
    "id",
    "side",
    "qty",
    "entry_bar",
    "entry_ts",
    "entry_price",
    "exit_bar",
    "exit_ts",
    "exit_price",
    "pnl",
    "fees",
    "open",
)


def trade_rows(result: BacktestResult) -> np.ndarray:
    """The trades as a float64 (n, 12) table in TRADE_COLUMNS order (times in epoch ms, exact in a float64)."""
    table = result.report.trades.array
    ts = result.report.timestamp.astype(np.float64)
    rows = np.empty((len(table), len(TRADE_COLUMNS)), dtype=np.float64)
    if len(table):
        is_open = table[:, 9] == 1.0
        entry, exit_ = table[:, 3].astype(np.int64), table[:, 4].astype(np.int64)
        rows[:, 0], rows[:, 1], rows[:, 2] = table[:, 0], np.sign(table[:, 1]), table[:, 2]
        rows[:, 3], rows[:, 4], rows[:, 5] = entry, ts[entry], table[:, 5]
        rows[:, 6] = np.where(is_open, np.nan, exit_)
        rows[:, 7] = np.where(is_open, np.nan, ts[exit_])
        rows[:, 8] = np.where(is_open, np.nan, table[:, 6])
        rows[:, 9], rows[:, 10], rows[:, 11] = table[:, 7], table[:, 8], is_open
    return rows


@dataclass(frozen=True, slots=True)
class Series:
    """Per-bar timestamp (int64 epoch ms), equity, drawdown (a positive percent below the running peak) and, when
    known, the buy-and-hold benchmark (the starting cash in the instrument, no costs)."""

    timestamp: np.ndarray
    equity: np.ndarray
    drawdown_pct: np.ndarray
    benchmark: np.ndarray | None = None


def time_columns(timestamp: np.ndarray) -> dict[str, np.ndarray]:
    """Bar times as a start and uint32 steps (4 bytes a bar) when every step fits (up to 49 days), else whole."""
    ts = np.asarray(timestamp, dtype=np.int64)
    steps = np.diff(ts)
    if len(ts) and (len(steps) == 0 or (steps.min() >= 0 and steps.max() <= np.iinfo(np.uint32).max)):
        return {"start": ts[:1], "steps": steps.astype(np.uint32)}
    return {"timestamp": ts}


def load_series(path: Path) -> Series | None:
    """A ``.series.npz`` read back (equity, time, cash; drawdown derived exactly as the engine computes it), or None
    when it is missing, a symlink, not a regular file, or not the shape `write_result` writes."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with np.load(path, allow_pickle=False) as npz:
            equity, cash = npz["equity"], float(npz["cash"][0])
            if "timestamp" in npz:
                ts = npz["timestamp"]
            else:
                ts = np.empty(len(equity), dtype=np.int64)
                ts[:1] = npz["start"]
                np.cumsum(npz["steps"], dtype=np.int64, out=ts[1:])
                ts[1:] += ts[0]
    except (OSError, ValueError, KeyError, IndexError, EOFError):
        return None
    if equity.ndim != 1 or equity.dtype != np.float64 or ts.shape != equity.shape:
        return None
    return Series(timestamp=ts, equity=equity, drawdown_pct=drawdown_from(equity, cash))


def load_legacy_series(path: Path) -> Series | None:
    """A schema-1 ``<id>.equity.npy`` ((2..4, n) float64: time, equity, drawdown, benchmark), or None."""
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


def trades_csv_lines(rows: np.ndarray) -> Iterator[str]:
    """The trades CSV of a trade table (TRADE_COLUMNS), line by line: byte for byte `spark.engine.trades_csv`."""
    yield "id,side,qty,entry_bar,entry_ts,entry_price,exit_bar,exit_ts,exit_price,pnl,fees,open\n"
    for r in rows.tolist():
        is_open = r[11] == 1.0
        fields = (
            str(int(r[0])),
            "long" if r[1] > 0 else "short",
            repr(r[2]),
            str(int(r[3])),
            str(int(r[4])),
            repr(r[5]),
            "" if is_open else str(int(r[6])),
            "" if is_open else str(int(r[7])),
            "" if is_open else repr(r[8]),
            repr(r[9]),
            repr(r[10]),
            "true" if is_open else "false",
        )
        yield ",".join(fields) + "\n"


def equity_csv_lines(series: Series, chunk: int = 10_000) -> Iterator[str]:
    """The equity CSV of a series in chunks of lines: byte for byte `spark.engine.equity_csv`."""
    yield "timestamp,equity,drawdown_pct\n"
    for lo in range(0, len(series.equity), chunk):
        rows = zip(
            series.timestamp[lo : lo + chunk].tolist(),
            series.equity[lo : lo + chunk].tolist(),
            series.drawdown_pct[lo : lo + chunk].tolist(),
            strict=True,
        )
        yield "".join(f"{ts},{eq!r},{dd!r}\n" for ts, eq, dd in rows)


def load_trades(path: Path) -> np.ndarray | None:
    """A trade table (TRADE_COLUMNS) from a ``.trades.npy``, or None (missing, planted, damaged)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if rows.ndim != 2 or rows.shape[1] != len(TRADE_COLUMNS) or rows.dtype != np.float64:
        return None
    return rows
