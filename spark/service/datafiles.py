"""Reading candle files: the two CSV header styles Spark supports, refusing anything else with the line named.

Supported (one header line, then one bar per line, oldest first):

- ``,Open,High,Low,Close,Volume``: a date/datetime index column (unnamed, or ``Date``/``Datetime``), naive times
  read as UTC (``2004-08-19`` or ``2017-04-19 09:00:00``); the style of pandas' ``DataFrame.to_csv``.
- ``timestamp,open,high,low,close,volume``: the time as whole epoch milliseconds.

Every other header, a field that is not a number, a time zone offset, a missing or extra field, a blank line inside
the data, NaN or infinite values, time not strictly increasing and impossible bars (high below open/close, low above)
raise DataError naming the file and its 1-based line. Numbers are parsed in C (``np.loadtxt``); the slow per-line
scan runs only to name the line once the fast path failed, so a good 1,000,000-row file loads in about a second.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from spark.engine.candles import Candles
from spark.errors import DataError

__all__ = ["infer_timeframe", "load_candles"]

_INDEX_NAMES = ("", "Date", "Datetime", "date", "datetime")
_CAPITALISED = ("Open", "High", "Low", "Close", "Volume")
_LOWER = ("timestamp", "open", "high", "low", "close", "volume")
_MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in ms; anything smaller is almost surely seconds
_DAY_MS = 86_400_000
_UNITS_MS = (("w", 7 * _DAY_MS), ("d", _DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def load_candles(
    source: str | os.PathLike[str] | IO[str] | IO[bytes], *, symbol: str = "", timeframe: str = ""
) -> Candles:
    """Read a CSV file (a path, or an open text or binary file) into validated Candles.

    ``symbol`` defaults to the file name's stem (``GOOG``); ``timeframe`` to `infer_timeframe` of the bar spacing.
    Raises DataError naming the line for anything that is not one of the two supported styles.
    """
    name, text = _read(source)
    if not symbol and name != "<file>":
        symbol = Path(name).stem
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"{name}: empty file (expected a header line)")
    header = [cell.strip() for cell in lines[0].split(",")]
    if len(header) == 6 and header[0] in _INDEX_NAMES and tuple(header[1:]) == _CAPITALISED:
        read = _dated
    elif tuple(header) == _LOWER:
        read = _epoch
    else:
        raise DataError(
            f"{name} line 1: unsupported header {lines[0][:80]!r}; expected ',Open,High,Low,Close,Volume' "
            "(date index) or 'timestamp,open,high,low,close,volume' (epoch ms)"
        )
    body = lines[1:]
    while body and not body[-1].strip():
        body.pop()
    if not body:
        raise DataError(f"{name}: no data lines after the header (line 1)")
    if text.count(",") != 5 * (len(body) + 1):  # usecols would silently drop extra fields: name the line
        _scan(name, body, lambda cells: None, _LOWER)
    ts, values = read(name, body)
    _check(name, ts, values)
    return Candles.from_arrays(
        timestamp=ts,
        open=values[:, 0],
        high=values[:, 1],
        low=values[:, 2],
        close=values[:, 3],
        volume=values[:, 4],
        symbol=symbol,
        timeframe=timeframe or infer_timeframe(ts),
    )


def infer_timeframe(ts: np.ndarray) -> str:
    """A timeframe name from the median bar spacing: ``1M`` for 27-32 days, ``3M`` for 89-92, ``1y`` for 365-366,
    else the largest whole unit (``1w``, ``1d``, ``4h``, ``15m``, ``30s``); "" for one bar or sub-second spacing.

    The median ignores weekends and holidays in daily data (GOOG reads as ``1d``).
    """
    if len(ts) < 2:
        return ""
    step = int(np.median(np.diff(ts)))
    days = step / _DAY_MS
    for low, high, label in ((27, 32, "1M"), (89, 92, "3M"), (365, 366, "1y")):
        if low <= days <= high:
            return label
    for unit, ms in _UNITS_MS:
        if step >= ms and step % ms == 0:
            return f"{step // ms}{unit}"
    return ""


def _read(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> tuple[str, str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{source}: no such file") from None
        except IsADirectoryError:
            raise DataError(f"{source}: is a folder, not a file") from None
        except OSError as exc:
            raise DataError(f"{source}: cannot read: {exc.strerror or exc}") from None
    else:
        name = Path(str(getattr(source, "name", "") or "<file>")).name or "<file>"
        raw = source.read()
    if isinstance(raw, str):
        return name, raw.removeprefix("\ufeff")
    try:
        return name, raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{name} line {line}: not UTF-8 text") from None


def _numbers(name: str, body: list[str], usecols: tuple[int, ...], columns: tuple[str, ...]) -> np.ndarray:
    """The numeric columns as float64 (rows x len(usecols)); on failure, name the first bad line."""
    try:
        table = np.loadtxt(body, delimiter=",", usecols=usecols, dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        table = None
    if table is None or len(table) != len(body):  # loadtxt skips blank lines: the scan names them
        _scan(name, body, lambda cells: [float(cells[i]) for i in usecols], columns)
        raise DataError(f"{name}: cannot read the numbers")  # guard: the scan names the line first
    return table


def _dated(name: str, body: list[str]) -> tuple[np.ndarray, np.ndarray]:
    values = _numbers(name, body, (1, 2, 3, 4, 5), _CAPITALISED)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy only warns about time zone offsets
            stamps = np.loadtxt(body, delimiter=",", usecols=0, dtype="datetime64[ms]", ndmin=1, comments=None)
    except (ValueError, UserWarning, DeprecationWarning):
        stamps = None
    if stamps is None or len(stamps) != len(body) or np.isnat(stamps).any():
        for i, line in enumerate(body):
            _parse_date(name, i + 2, line.split(",", 1)[0].strip())
        raise DataError(f"{name}: cannot read the dates")  # guard: _parse_date names the bad line first
    return stamps.astype(np.int64), values


def _parse_date(name: str, line: int, text: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stamp = np.datetime64(text, "ms")
    except (UserWarning, DeprecationWarning):
        raise DataError(
            f"{name} line {line}: time zone offsets are not supported in {text!r}; write naive UTC times"
        ) from None
    except ValueError:
        raise DataError(f"{name} line {line}: {text!r} is not a date or datetime") from None
    if np.isnat(stamp):
        raise DataError(f"{name} line {line}: {text!r} is not a date or datetime")


def _epoch(name: str, body: list[str]) -> tuple[np.ndarray, np.ndarray]:
    table = _numbers(name, body, (0, 1, 2, 3, 4, 5), _LOWER)
    raw_ts, values = table[:, 0], table[:, 1:]
    bad = ~np.isfinite(raw_ts) | (raw_ts != np.trunc(raw_ts)) | (raw_ts < _MIN_EPOCH_MS) | (raw_ts > 1e15)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{name} line {i + 2}: timestamp {body[i].split(',')[0].strip()!r} is not whole epoch "
            "milliseconds (after 1973; seconds are not accepted)"
        )
    return raw_ts.astype(np.int64), values


def _scan(name: str, body: list[str], parse: Callable[[list[str]], object], columns: tuple[str, ...]) -> None:
    """Walk the lines in Python to name the first one the fast path could not read; returns if all are fine."""
    width = 6
    for i, line in enumerate(body):
        cells = line.split(",")
        if not line.strip():
            raise DataError(f"{name} line {i + 2}: blank line inside the data")
        if len(cells) != width:
            raise DataError(f"{name} line {i + 2}: {len(cells)} fields, expected {width}")
        try:
            parse(cells)
        except ValueError:
            for j, cell in enumerate(cells[width - len(columns) :]):
                try:
                    float(cell)
                except ValueError:
                    raise DataError(
                        f"{name} line {i + 2}: {cell.strip()!r} is not a number (column {columns[j]})"
                    ) from None


def _check(name: str, ts: np.ndarray, values: np.ndarray) -> None:
    """The Candles rules, reported by file line (Candles re-checks; this only names the line for a file)."""

    def first(bad: np.ndarray, what: Callable[[int], str]) -> None:
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{name} line {i + 2}: {what(i)}")

    o, h, lo, c, v = values.T
    first(~np.isfinite(values).all(axis=1), lambda i: "NaN or infinite value")
    first((values[:, :4] < 0).any(axis=1), lambda i: "negative price")
    first(v < 0, lambda i: "negative volume")
    if len(ts) > 1:
        bad = np.zeros(len(ts), dtype=bool)
        bad[1:] = ts[1:] <= ts[:-1]
        first(bad, lambda i: "time not strictly increasing (same as or before the line above)")
    first(h < np.maximum(o, c), lambda i: f"high {h[i]:g} below max(open, close)")
    first(lo > np.minimum(o, c), lambda i: f"low {lo[i]:g} above min(open, close)")
