"""Reading candle files: the CSV exports users have, refusing anything else with the file and line named.

One header line, then one bar per line, oldest first. The header names a time column, then the prices:

- the time column: an unnamed index, ``Date`` or ``Datetime`` (a date or a datetime, naive, read as UTC:
  ``2004-08-19``, ``2017-04-19 09:00:00``), or ``timestamp`` (whole epoch milliseconds);
- then ``Open``, ``High``, ``Low``, ``Close`` and optionally ``Adj Close`` and ``Volume``, in any order.

Names are matched in any case, so pandas' ``DataFrame.to_csv`` (``,Open,High,Low,Close,Volume``), Yahoo Finance
(``Date,Open,High,Low,Close,Adj Close,Volume``), lower-case ``date,open,high,low,close,volume`` and
``timestamp,open,high,low,close,volume`` all read. Fields are separated by ``,`` or ``;`` (whichever the header
uses); in a ``;`` file a decimal comma (``1,5``) is read as a decimal point. Without a Volume column the volume is 0.
``adjusted=True`` takes Adj Close as the close and scales open, high and low by the same factor (Adj Close / Close,
bar by bar, as Yahoo adjusts for splits and dividends; volume is left as it is); a file without Adj Close is then
refused. How a file was read is kept in ``Candles.source`` (``file``, ``format``: ``date`` | ``epoch_ms`` |
``yahoo``, ``delimiter``, ``volume``: ``present`` | ``absent``, ``close``: ``close`` | ``adj_close``), which every
result states in its metadata (``dataSource``).

Every other header, a field that is not a number, a time zone offset, a missing or extra field, a blank line inside
the data, NaN or infinite values, time not strictly increasing and impossible bars (high below open/close, low above)
raise DataError naming the file and its 1-based line. Numbers are parsed in C (``np.loadtxt``); the slow per-line
scan runs only to name the line once the fast path failed, so a good 1,000,000-row file loads in about a second.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from spark.engine.candles import Candles
from spark.errors import DataError

__all__ = ["CsvLayout", "infer_timeframe", "load_candles", "parse_header", "read_layout"]

_DATE_NAMES = ("", "date", "datetime")
_EPOCH_NAME = "timestamp"
_PRICES = ("open", "high", "low", "close")
_OPTIONAL = ("adj_close", "volume")
_ALIASES = {"adj close": "adj_close", "adj_close": "adj_close", "adjclose": "adj_close"}
_EXPECTED = (
    "expected a time column (an unnamed date index, Date, Datetime, or timestamp in epoch ms), then Open, High, "
    "Low, Close and optionally Adj Close and Volume, separated by ',' or ';'"
)
_MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in ms; anything smaller is almost surely seconds
_DAY_MS = 86_400_000
_UNITS_MS = (("w", 7 * _DAY_MS), ("d", _DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1000))
_HEADER_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """What a header line says: the format, the separator, the header cells as written and where each column is."""

    format: str  # "date" | "epoch_ms" | "yahoo"
    delimiter: str  # "," | ";"
    header: tuple[str, ...]
    columns: Mapping[str, int]  # "open", "high", "low", "close", maybe "adj_close" and "volume" -> field index

    @property
    def has_volume(self) -> bool:
        return "volume" in self.columns

    @property
    def has_adj_close(self) -> bool:
        return "adj_close" in self.columns

    def source(self, file: str, *, adjusted: bool) -> dict[str, str]:
        """What `Candles.source` records for candles read with this layout."""
        return {
            "file": file,
            "format": self.format,
            "delimiter": self.delimiter,
            "volume": "present" if self.has_volume else "absent",
            "close": "adj_close" if adjusted else "close",
        }


def parse_header(name: str, line: str) -> CsvLayout:
    """The layout of a header line; DataError naming ``name`` line 1 for anything not described above."""
    delimiter = ";" if line.count(";") > line.count(",") else ","
    cells = tuple(cell.strip() for cell in line.split(delimiter))

    def refuse(reason: str) -> DataError:
        return DataError(f"{name} line 1: unsupported header {line[:80]!r}: {reason}; {_EXPECTED}")

    time = cells[0].lower()
    if time not in (*_DATE_NAMES, _EPOCH_NAME):
        raise refuse(f"the first column {cells[0][:40]!r} is not a time column")
    columns: dict[str, int] = {}
    for i, cell in enumerate(cells[1:], start=1):
        key = _ALIASES.get(" ".join(cell.lower().split()), cell.lower())
        if key not in (*_PRICES, *_OPTIONAL):
            raise refuse(f"unknown column {cell[:40]!r}")
        if key in columns:
            raise refuse(f"column {cell[:40]!r} appears twice")
        columns[key] = i
    missing = [key for key in _PRICES if key not in columns]
    if missing:
        raise refuse(f"no {', '.join(missing)} column")
    fmt = "epoch_ms" if time == _EPOCH_NAME else "yahoo" if "adj_close" in columns else "date"
    return CsvLayout(format=fmt, delimiter=delimiter, header=cells, columns=columns)


def read_layout(path: str | os.PathLike[str]) -> CsvLayout:
    """The layout of a file from its first line alone (cheap: a check before a run reads the whole file)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.readline(_HEADER_BYTES)
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    try:
        line = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"{path.name} line 1: not UTF-8 text") from None
    if not line.strip():
        raise DataError(f"{path.name}: empty file (expected a header line)")
    return parse_header(path.name, line)


def load_candles(
    source: str | os.PathLike[str] | IO[str] | IO[bytes],
    *,
    symbol: str = "",
    timeframe: str = "",
    adjusted: bool = False,
) -> Candles:
    """Read a CSV file (a path, or an open text or binary file) into validated Candles.

    ``symbol`` defaults to the file name's stem (``GOOG``); ``timeframe`` to `infer_timeframe` of the bar spacing;
    ``adjusted`` takes Adj Close as the close (see the module). Raises DataError naming the line for anything that
    is not one of the supported layouts.
    """
    name, text = _read(source)
    if not symbol and name != "<file>":
        symbol = Path(name).stem
    end = text.find("\n")
    first = (text if end < 0 else text[:end]).rstrip("\r")
    if not first.strip():
        raise DataError(f"{name}: empty file (expected a header line)")
    layout = parse_header(name, first)
    if adjusted and not layout.has_adj_close:
        raise DataError(f"{name}: adjusted needs an 'Adj Close' column, and this file has none")
    delimiter, width = layout.delimiter, len(layout.header)
    if delimiter == ";" and "," in text:
        text = text.replace(",", ".")  # decimal commas; a ';' file has no other use for them
    body = text.splitlines()[1:]
    while body and not body[-1].strip():
        body.pop()
    if not body:
        raise DataError(f"{name}: no data lines after the header (line 1)")
    if text.count(delimiter) != (width - 1) * (len(body) + 1):  # usecols would drop extra fields: name the line
        _scan(name, body, layout, ())
    cols = layout.columns
    keys = [*_PRICES, *(key for key in _OPTIONAL if key in cols)]
    numeric = ((0,) if layout.format == "epoch_ms" else ()) + tuple(cols[key] for key in keys)
    table = _numbers(name, body, layout, numeric)
    if layout.format == "epoch_ms":
        ts, table = _epoch(name, body, table[:, 0], delimiter), table[:, 1:]
    else:
        ts = _dates(name, body, delimiter)
    values = {key: table[:, i] for i, key in enumerate(keys)}
    _check(name, ts, table, values)
    o, h, lo, c = (values[key] for key in _PRICES)
    if adjusted:
        o, h, lo, c = _adjust(o, h, lo, c, values["adj_close"])
    return Candles.from_arrays(
        timestamp=ts,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=values.get("volume"),
        symbol=symbol,
        timeframe=timeframe or infer_timeframe(ts),
        source=layout.source(name, adjusted=adjusted),
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


def _numbers(name: str, body: list[str], layout: CsvLayout, usecols: tuple[int, ...]) -> np.ndarray:
    """The numeric columns as float64 (rows x len(usecols)); on failure, name the first bad line."""
    try:
        table = np.loadtxt(body, delimiter=layout.delimiter, usecols=usecols, dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        table = None
    if table is None or len(table) != len(body):  # loadtxt skips blank lines: the scan names them
        _scan(name, body, layout, usecols)
        raise DataError(f"{name}: cannot read the numbers")  # guard: the scan names the line first
    return table


def _dates(name: str, body: list[str], delimiter: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy only warns about time zone offsets
            stamps = np.loadtxt(body, delimiter=delimiter, usecols=0, dtype="datetime64[ms]", ndmin=1, comments=None)
    except (ValueError, UserWarning, DeprecationWarning):
        stamps = None
    if stamps is None or len(stamps) != len(body) or np.isnat(stamps).any():
        for i, line in enumerate(body):
            _parse_date(name, i + 2, line.split(delimiter, 1)[0].strip())
        raise DataError(f"{name}: cannot read the dates")  # guard: _parse_date names the bad line first
    return stamps.astype(np.int64)


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


def _epoch(name: str, body: list[str], raw_ts: np.ndarray, delimiter: str) -> np.ndarray:
    bad = ~np.isfinite(raw_ts) | (raw_ts != np.trunc(raw_ts)) | (raw_ts < _MIN_EPOCH_MS) | (raw_ts > 1e15)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{name} line {i + 2}: timestamp {body[i].split(delimiter)[0].strip()!r} is not whole epoch "
            "milliseconds (after 1973; seconds are not accepted)"
        )
    return raw_ts.astype(np.int64)


def _scan(name: str, body: list[str], layout: CsvLayout, numeric: tuple[int, ...]) -> None:
    """Walk the lines in Python to name the first one the fast path could not read; returns if all are fine."""
    width = len(layout.header)
    for i, line in enumerate(body):
        if not line.strip():
            raise DataError(f"{name} line {i + 2}: blank line inside the data")
        cells = line.split(layout.delimiter)
        if len(cells) != width:
            raise DataError(f"{name} line {i + 2}: {len(cells)} fields, expected {width}")
        for j in numeric:
            try:
                float(cells[j])
            except ValueError:
                raise DataError(
                    f"{name} line {i + 2}: {cells[j].strip()!r} is not a number (column {layout.header[j]})"
                ) from None


def _check(name: str, ts: np.ndarray, table: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
    """The Candles rules, reported by file line (Candles re-checks; this only names the line for a file)."""

    def first(bad: np.ndarray, what: Callable[[int], str]) -> None:
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{name} line {i + 2}: {what(i)}")

    o, h, lo, c = (values[key] for key in _PRICES)
    first(~np.isfinite(table).all(axis=1), lambda i: "NaN or infinite value")
    prices = (o < 0) | (h < 0) | (lo < 0) | (c < 0)
    if "adj_close" in values:
        prices |= values["adj_close"] < 0
    first(prices, lambda i: "negative price")
    if "volume" in values:
        first(values["volume"] < 0, lambda i: "negative volume")
    if len(ts) > 1:
        bad = np.zeros(len(ts), dtype=bool)
        bad[1:] = ts[1:] <= ts[:-1]
        first(bad, lambda i: "time not strictly increasing (same as or before the line above)")
    first(h < np.maximum(o, c), lambda i: f"high {h[i]:g} below max(open, close)")
    first(lo > np.minimum(o, c), lambda i: f"low {lo[i]:g} above min(open, close)")


def _adjust(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, adj: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prices scaled by Adj Close / Close per bar (1 where the close is 0); high and low widened by the rounding
    of the product so that every bar stays possible."""
    factor = np.divide(adj, c, out=np.ones_like(c), where=c > 0)
    o2, h2, lo2 = o * factor, h * factor, lo * factor
    h2 = np.maximum(h2, np.maximum(o2, adj))
    lo2 = np.minimum(lo2, np.minimum(o2, adj))
    return o2, h2, lo2, adj
