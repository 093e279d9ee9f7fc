"""BTCTurk history: fetching closed candles into a Spark CSV file (``timestamp,open,high,low,close,volume``, epoch
ms), resumably and atomically, and reading a range for the ``btcturk`` feed. Both go through `BtcturkRest`.

A fetch checks everything before it writes: the timeframe is one BTCTurk serves, the pair one it lists, ``since``
not in the future, an existing file one of ours. Then it asks only for what the file lacks (from its last candle
on), keeps closed candles only (the forming one is left for the next run), validates the whole series and
replaces the file at once (temp file, fsync, rename, fsync of the folder): an interrupted fetch leaves the old
file whole. Missing bars are reported, never invented.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spark.config import Settings
from spark.errors import DataError, InputError
from spark.market.klines import Kline, check_timeframe, find_gaps, interval_ms, parse_decimal, validate_klines
from spark.market.rest import BtcturkRest

__all__ = ["HEADER", "FetchResult", "default_path", "fetch_range", "fetch_to_csv", "parse_when"]

HEADER = "timestamp,open,high,low,close,volume"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?Z?$")


@dataclass(frozen=True, slots=True)
class FetchResult:
    path: Path
    added: int  # candles appended by this run
    total: int  # candles in the file now
    gaps: list[tuple[int, int]]  # (first missing ts, bars missing) among the added candles
    first_ts: int | None
    last_ts: int | None


def parse_when(text: str, field: str) -> int:
    """``2024-01-01``, ``2024-01-01T12:00[:00]Z`` (UTC) or epoch milliseconds, as epoch ms."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    if not _DATE.match(text):
        raise InputError(f"{field}: expected a date like 2024-01-01 (UTC) or epoch ms, got {text[:40]!r}", field=field)
    try:
        when = dt.datetime.fromisoformat(text.rstrip("Z").replace(" ", "T"))
    except ValueError as exc:
        raise InputError(f"{field}: {exc}", field=field) from None
    return int(when.replace(tzinfo=dt.UTC).timestamp() * 1000)


def default_path(settings: Settings, pair: str, timeframe: str) -> Path:
    """``<data dir>/<PAIR>-<timeframe>.csv``: the name the replay exchange and the csv feed find it by."""
    return settings.data_dir / f"{pair}-{timeframe}.csv"


def check_range(timeframe: str, since_ms: int, until_ms: int | None, now_ms: int) -> tuple[int, int]:
    """The range to fetch, ``until`` capped at the last closed candle; InputError naming the bad bound."""
    step = interval_ms(check_timeframe(timeframe))
    if since_ms > now_ms:
        raise InputError("since: is in the future: there are no candles yet", field="since")
    closed_until = now_ms // step * step  # the forming candle starts here: it is not closed yet
    until = closed_until if until_ms is None else min(until_ms, closed_until)
    if until_ms is not None and until_ms <= since_ms:
        raise InputError("until: must be after since", field="until")
    return since_ms, until


async def fetch_range(
    settings: Settings, pair: str, timeframe: str, since_ms: int, until_ms: int | None = None
) -> tuple[str, list[Kline]]:
    """Closed candles of ``pair`` with ``since_ms <= ts < until_ms`` (None: up to now), validated; the pair's
    exchange name with them."""
    since, until = check_range(timeframe, since_ms, until_ms, int(time.time() * 1000))
    async with BtcturkRest(settings) as rest:
        name = await rest.check_pair(pair)
        klines = await rest.history(name, timeframe, since, until) if since < until else []
    validate_klines(klines, interval_ms(timeframe))
    return name, klines


async def fetch_to_csv(
    settings: Settings,
    pair: str,
    timeframe: str,
    since_ms: int,
    until_ms: int | None = None,
    *,
    path: Path | None = None,
    now_ms: int | None = None,
    on_page: Callable[[int, int], None] | None = None,
) -> FetchResult:
    """Fetch into ``path`` (default `default_path`), appending only candles after the file's last one."""
    step = interval_ms(check_timeframe(timeframe))
    now = int(time.time() * 1000) if now_ms is None else now_ms
    since, until = check_range(timeframe, since_ms, until_ms, now)
    async with BtcturkRest(settings) as rest:
        name = await rest.check_pair(pair)
        target = path if path is not None else default_path(settings, name, timeframe)
        existing = _read_existing(target)
        if existing:
            since = max(since, existing[-1].ts + step)
        new = await rest.history(name, timeframe, since, until, on_page=on_page) if since < until else []
    validate_klines([*existing[-1:], *new], step)
    if new:
        _write_atomically(target, [*existing, *new])
    everything = [*existing, *new]
    return FetchResult(
        path=target,
        added=len(new),
        total=len(everything),
        gaps=find_gaps((k.ts for k in new), step),
        first_ts=everything[0].ts if everything else None,
        last_ts=everything[-1].ts if everything else None,
    )


def _read_existing(path: Path) -> list[Kline]:
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot be read: {exc}") from None
    if not lines or lines[0].strip().lower() != HEADER:
        raise DataError(f"{path.name} exists and is not a BTCTurk fetch (header {HEADER!r} expected): not touched")
    out = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != 6 or not cells[0].isdigit():
            raise DataError(f"{path.name} line {number}: not a candle row: {line[:60]!r}")
        values = [parse_decimal(c, f"{path.name} line {number}") for c in cells[1:]]
        out.append(Kline(int(cells[0]), *values))
    return out


def _write_atomically(path: Path, klines: list[Kline]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(HEADER + "\n")
            fh.writelines(k.csv_row() + "\n" for k in klines)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
