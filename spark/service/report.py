"""What the report view draws beside the equity curve: candles, the strategy's indicators, trade markers, the trade
list and monthly returns, all read from a run's evidence or computed from its data again.

Candles are not stored per run: the price pane re-reads the run's feed (deterministic), and a changed data file is
told apart by its hash (the result's ``metadata.dataHash``): a Conflict (409) rather than the wrong picture. A
small per-system cache keeps the last runs' candles and indicator lines, so zooming does not reload them. Every
function here blocks (files, numpy): the service calls them in a worker thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine.candles import Candles
from spark.errors import Conflict, NotFound, SparkError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins
from spark.service.curves import at_bucket_ends, ohlc, window
from spark.service.evidence import TRADE_COLUMNS, Series, read_trades
from spark.service.record import RunRecord

__all__ = [
    "MAX_MARKERS",
    "MAX_TRADES_PAGE",
    "TRADE_SORTS",
    "CandleCache",
    "monthly_returns",
    "price",
    "trade_page",
    "with_benchmark",
]

MAX_MARKERS = 2_000  # markers in one answer; a zoom shows the rest
MAX_TRADES_PAGE = 1_000
TRADE_SORTS = (
    "id",
    "side",
    "qty",
    "entryTs",
    "entryPrice",
    "exitTs",
    "exitPrice",
    "pnl",
    "fees",
    "returnPct",
    "durationMs",
)


@dataclass(frozen=True, slots=True)
class _Loaded:
    candles: Candles
    lines: dict[str, np.ndarray]


class CandleCache:
    """The candles and indicator lines of the last few runs viewed (by run id), shared by the worker threads (the
    service keeps a second one for the equity series of the last runs viewed: whatever `load` returns is kept).

    A miss is loaded once: the report view asks for /ohlc and /equity (its benchmark) at the same moment, and a
    second thread asking for a key being loaded waits for that load instead of reading the feed again. Loads of
    different keys never wait for each other."""

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str | None], _Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str | None], threading.Lock] = {}

    def get(self, key: tuple[str, str | None], load: Callable[[], _Loaded]) -> _Loaded:
        """The entry for ``key`` (run id, the feed's stamp of its data), loaded on a miss (its error raised to
        every caller that waited for it, each of which then tries itself)."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per key at a time; the others find it cached when they get the gate
            with self._lock:
                hit = self._items.get(key)
                if hit is not None:
                    self._items.move_to_end(key)
                    return hit
            try:
                loaded = load()
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:  # cached and no longer loading in one step: a newcomer finds one or the other
                self._items[key] = loaded
                self._loading.pop(key, None)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return loaded


def price(
    record: RunRecord,
    summary: dict[str, Any] | None,
    plugins: Plugins,
    data_dir: Path,
    evidence_dir: Path,
    cache: CandleCache,
    start_ms: int | None,
    end_ms: int | None,
    points: int,
) -> dict[str, Any]:
    """``{total, timestamp, open, high, low, close, volume, indicators, plots, markers, markersTotal, precision}``
    for the bars within ``start_ms..end_ms``, at most ``points`` buckets. NotFound without a result; Conflict when
    the data read now is not the data run."""
    metadata = (summary or {}).get("metadata") or {}
    if record.status != "done" or not metadata:
        raise NotFound(f"run {record.id} has no result to draw (yet)", field="id")
    loaded = cache.get(
        (record.id, _stamp(record, plugins, data_dir)), lambda: _load(record, metadata, plugins, data_dir)
    )
    candles = loaded.candles
    columns = {name: getattr(candles, name) for name in ("open", "high", "low", "close", "volume")}
    doc, starts, hi = ohlc(candles.timestamp, columns, start_ms, end_ms, points)
    spec = plugins.strategies.get(record.strategy)
    plots = [] if spec is None else [p.to_json() for p in spec.plots if p.name in loaded.lines]
    for plot in plots:
        plot["levels"] = [record.params.get(v) if isinstance(v, str) else v for v in plot["levels"]]
        plot["levels"] = [float(v) for v in plot["levels"] if isinstance(v, int | float)]
    doc["indicators"] = {p["name"]: at_bucket_ends(loaded.lines[p["name"]], starts, hi) for p in plots}
    doc["plots"] = plots
    markers, total = _markers(read_trades(evidence_dir, record.id), candles.timestamp, start_ms, end_ms, MAX_MARKERS)
    doc["markersTotal"] = total
    doc["markers"] = markers
    doc["precision"] = _precision(candles.close)
    return doc


def with_benchmark(
    series: Series,
    record: RunRecord,
    summary: dict[str, Any] | None,
    plugins: Plugins,
    data_dir: Path,
    cache: CandleCache,
) -> Series:
    """``series`` with its buy-and-hold line (the starting cash in the instrument at the first close, no costs),
    from the run's data read again; unchanged when that data cannot be read or is not the data run."""
    metadata = (summary or {}).get("metadata") or {}
    cash = (metadata.get("options") or {}).get("cash")
    if not metadata or not isinstance(cash, int | float):
        return series
    try:
        loaded = cache.get(
            (record.id, _stamp(record, plugins, data_dir)), lambda: _load(record, metadata, plugins, data_dir)
        )
    except SparkError:
        return series
    close = loaded.candles.close
    if len(close) != len(series.equity) or not close[0] > 0:
        return series
    return Series(
        timestamp=series.timestamp,
        equity=series.equity,
        drawdown_pct=series.drawdown_pct,
        benchmark=float(cash) * close / close[0],
    )


def _stamp(record: RunRecord, plugins: Plugins, data_dir: Path) -> str | None:
    """The feed's stamp of the run's data now (None: the feed has none, or the data cannot be reached)."""
    spec = plugins.feeds.get(record.feed.name)
    if spec is None or spec.stamp is None:
        return None
    try:
        return spec.stamp(record.feed.args, FeedEnv(data_dir=Path(data_dir), restricted=True))
    except (SparkError, OSError):
        return None


def _load(record: RunRecord, metadata: dict[str, Any], plugins: Plugins, data_dir: Path) -> _Loaded:
    try:
        feed = plugins.feed(record.feed.name)
        candles = feed.load(record.feed.args, FeedEnv(data_dir=Path(data_dir), restricted=True))
    except SparkError as exc:
        raise Conflict(f"the data of run {record.id} cannot be read again: {exc.message}", field="id") from None
    expected = metadata.get("dataHash")
    if expected and candles.fingerprint != expected:
        raise Conflict(
            f"the data of run {record.id} changed since the run (feed {record.feed.name}): its chart would show "
            "other prices; run it again",
            field="id",
        )
    lines: dict[str, np.ndarray] = {}
    spec = plugins.strategies.get(record.strategy)
    if spec is not None and spec.indicators is not None:
        try:
            computed = spec.indicators(dict(record.params), candles)
            lines = {k: np.asarray(v, dtype=np.float64) for k, v in computed.items() if len(v) == len(candles)}
        except Exception:  # a plugin's display helper failing must not cost the price pane: no lines then
            lines = {}
    return _Loaded(candles=candles, lines=lines)


def _markers(
    trades: np.ndarray | None, timestamp: np.ndarray, start_ms: int | None, end_ms: int | None, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """(entry and exit markers of the trades whose fills fall in the window, in time order (an exit before an entry
    at the same time), evenly thinned to at most ``limit``; how many there are in all). Selected and ordered with
    numpy, so only the markers answered become dicts (a 1,000,000-bar run has ~40,000)."""
    if trades is None or not len(trades):
        return [], 0
    lo, hi = window(timestamp, start_ms, end_ms)
    if hi <= lo:
        return [], 0
    first, last = int(timestamp[lo]), int(timestamp[hi - 1])
    col = {name: i for i, name in enumerate(TRADE_COLUMNS)}
    picked_rows, picked_ts, picked_price, is_entry = [], [], [], []
    for kind, ts_col, price_col in ((True, "entry_ts", "entry_price"), (False, "exit_ts", "exit_price")):
        ts = trades[:, col[ts_col]]
        with np.errstate(invalid="ignore"):
            rows = np.flatnonzero(np.isfinite(ts) & (ts >= first) & (ts <= last))
        picked_rows.append(rows)
        picked_ts.append(ts[rows])
        picked_price.append(trades[rows, col[price_col]])
        is_entry.append(np.full(len(rows), kind))
    rows, ts, price, entry = (np.concatenate(x) for x in (picked_rows, picked_ts, picked_price, is_entry))
    order = np.lexsort((entry, ts))  # by time, then exits (False) before entries
    total = len(order)
    if total > limit:
        order = order[np.linspace(0, total - 1, limit).astype(np.int64)]
    out = []
    for i in order:
        row = trades[rows[i]]
        out.append(
            {
                "trade": int(row[col["id"]]),
                "side": "long" if row[col["side"]] > 0 else "short",
                "qty": float(row[col["qty"]]),
                "pnl": float(row[col["pnl"]]),
                "open": bool(row[col["open"]]),
                "kind": "entry" if entry[i] else "exit",
                "ts": int(ts[i]),
                "price": float(price[i]),
            }
        )
    return out, total


def _precision(close: np.ndarray) -> int:
    """Decimals the prices need (0..8), from a sample of closes: how the instrument is quoted."""
    sample = close[:: max(1, len(close) // 1000)]
    for decimals in range(9):
        if np.allclose(np.round(sample, decimals), sample, rtol=0, atol=10.0 ** -(decimals + 3)):
            return decimals
    return 8


def trade_page(evidence_dir: Path, run_id: str, sort: str, limit: int, offset: int) -> dict[str, Any]:
    """``{total, trades: [{..., returnPct, durationMs}]}``: one page of the run's trades, sorted by a
    TRADE_SORTS name (``-`` first for descending; trades without the value last). NotFound without a trade table."""
    rows = read_trades(evidence_dir, run_id)
    if rows is None:
        raise NotFound(f"run {run_id} has no trade list", field="id")
    col = {name: i for i, name in enumerate(TRADE_COLUMNS)}
    cost = rows[:, col["qty"]] * rows[:, col["entry_price"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(cost > 0, rows[:, col["pnl"]] / cost * 100.0, np.nan)
    duration = rows[:, col["exit_ts"]] - rows[:, col["entry_ts"]]
    keyed = {
        "id": rows[:, col["id"]],
        "side": rows[:, col["side"]],
        "qty": rows[:, col["qty"]],
        "entryTs": rows[:, col["entry_ts"]],
        "entryPrice": rows[:, col["entry_price"]],
        "exitTs": rows[:, col["exit_ts"]],
        "exitPrice": rows[:, col["exit_price"]],
        "pnl": rows[:, col["pnl"]],
        "fees": rows[:, col["fees"]],
        "returnPct": ret,
        "durationMs": duration,
    }
    name = sort.lstrip("-")
    values = keyed[name]
    order = np.argsort(-values if sort.startswith("-") else values, kind="stable")
    order = np.concatenate([order[np.isfinite(values[order])], order[~np.isfinite(values[order])]])
    page = order[offset : offset + limit]

    def number(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    trades = [
        {
            "id": int(keyed["id"][i]),
            "side": "long" if keyed["side"][i] > 0 else "short",
            "qty": float(keyed["qty"][i]),
            "entryTs": int(keyed["entryTs"][i]),
            "entryPrice": float(keyed["entryPrice"][i]),
            "exitTs": None if not np.isfinite(keyed["exitTs"][i]) else int(keyed["exitTs"][i]),
            "exitPrice": number(keyed["exitPrice"][i]),
            "pnl": float(keyed["pnl"][i]),
            "fees": float(keyed["fees"][i]),
            "open": bool(rows[i, col["open"]]),
            "returnPct": number(ret[i]),
            "durationMs": None if not np.isfinite(duration[i]) else int(duration[i]),
        }
        for i in page
    ]
    return {"total": len(rows), "trades": trades}


def monthly_returns(series: Series, cash: float | None) -> dict[str, Any]:
    """Returns per calendar month and year (UTC) from the equity marked at each bar's close: a month's return is
    its last equity over the previous month's last (the first over the starting ``cash``), in percent."""
    if not len(series.equity):
        return {"months": [], "years": []}
    stamps = series.timestamp.astype("datetime64[ms]")
    out: dict[str, list[dict[str, Any]]] = {}
    for key, unit in (("months", "M"), ("years", "Y")):
        period = stamps.astype(f"datetime64[{unit}]")
        last = np.flatnonzero(np.append(period[1:] != period[:-1], True))  # each period's last bar
        ends = series.equity[last]
        base = np.concatenate([[cash if cash else series.equity[0]], ends[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(base > 0, (ends / base - 1.0) * 100.0, np.nan)
        rows = []
        for p, value in zip(period[last], pct, strict=True):
            text = str(p)
            row: dict[str, Any] = {"year": int(text[:4])}
            if unit == "M":
                row["month"] = int(text[5:7])
            row["returnPct"] = float(value) if np.isfinite(value) else None
            rows.append(row)
        out[key] = rows
    return out
