"""Built-in data feeds: ``csv`` (a file in any layout `spark.service.datafiles` reads), ``synthetic`` (a seeded
random walk) and ``default`` (the real GOOG daily series shipped inside this package, so the first run needs no
files).

Everything a feed can refuse without reading data is in its ``check`` (run when the API accepts a request, so a bad
value is a 400 naming ``feed.args.<name>`` instead of a queued run that fails) and again inside ``load``."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from spark import Candles, FeedEnv, FeedSpec, Param, hookimpl
from spark.errors import DataError, ParamError
from spark.service.datafiles import load_candles, read_layout

__all__ = [
    "SYNTHETIC_EPOCH_MS",
    "check_csv",
    "check_synthetic",
    "load_csv",
    "load_default",
    "load_synthetic",
    "register_feeds",
    "synthetic_seed",
]

SYNTHETIC_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z: the first synthetic bar
MAX_SYNTHETIC_BARS = 5_000_000
_TIMEFRAME = re.compile(r"^([1-9][0-9]{0,3})([smhdwMy])$")
MAX_SYMBOL = 64
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the last time a synthetic bar may carry
_UNIT_MS = {
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
    "M": 30 * 86_400_000,
    "y": 365 * 86_400_000,
}

CSV_PARAMS = (
    Param(
        name="path",
        type="str",
        default="",
        help="the CSV file; over the API only a file name inside the data directory (SPARK_DATA_DIR)",
    ),
    Param(name="symbol", type="str", default="", help="symbol recorded in the result (default: the file's stem)"),
    Param(name="timeframe", type="str", default="", help="bar length like 1d (default: inferred from the spacing)"),
    Param(
        name="adjusted",
        type="bool",
        default=False,
        help="use Adj Close as the close (a Yahoo export), open/high/low scaled by the same factor",
    ),
)
SYNTHETIC_PARAMS = (
    Param(name="symbol", type="str", default="SYNTH", help="symbol recorded in the result; enters the default seed"),
    Param(name="timeframe", type="str", default="1h", help="bar length (1m, 4h, 1d, 1w, 1M = 30 days, ...)"),
    Param(name="bars", type="int", default=10_000, min=1, max=MAX_SYNTHETIC_BARS, help="number of bars"),
    Param(
        name="seed",
        type="int",
        default=-1,
        min=-1,
        max=2**63 - 1,
        help="random seed; -1 (the default) derives it from sha256 of symbol and timeframe",
    ),
    Param(name="price", type="float", default=100.0, min=1e-6, max=1e9, help="opening price of the first bar"),
    Param(
        name="volatility",
        type="float",
        default=0.01,
        min=0.0,
        max=0.2,
        help="standard deviation of the log return per bar",
    ),
)


def load_csv(args: Mapping[str, Any], env: FeedEnv) -> Candles:
    """Read ``args["path"]``. Restricted (the API): a plain ``*.csv`` file name that resolves inside
    ``env.data_dir`` (no separators, no ``..``, no absolute path, no symlink leading out); messages never show the
    data directory's own path."""
    check_csv(args, env)
    raw = str(args["path"])
    path = _inside(raw, env.data_dir) if env.restricted else Path(raw)
    return load_candles(
        path,
        symbol=str(args.get("symbol", "")),
        timeframe=str(args.get("timeframe", "")),
        adjusted=bool(args.get("adjusted", False)),
    )


def check_csv(args: Mapping[str, Any], env: FeedEnv) -> None:
    """At request time: the path is given and, restricted, names an existing file inside the data directory; a
    symbol and a timeframe, when given, are ones a run record can show; ``adjusted`` only for a file whose header
    has an Adj Close column (the header alone is read)."""
    raw = str(args.get("path", ""))
    if not raw:
        raise ParamError("feed.args.path is required: the CSV file to read", field="feed.args.path")
    _symbol(str(args.get("symbol", "")))
    timeframe = str(args.get("timeframe", ""))
    if timeframe:
        _step_ms(timeframe)
    path = _inside(raw, env.data_dir) if env.restricted else Path(raw)
    if args.get("adjusted", False) and (env.restricted or path.is_file()):
        layout = read_layout(path)
        if not layout.has_adj_close:
            raise ParamError(
                f"feed.args.adjusted: {path.name} has no Adj Close column to adjust by (header "
                f"{','.join(layout.header)[:80]!r})",
                field="feed.args.adjusted",
            )


def check_synthetic(args: Mapping[str, Any], env: FeedEnv) -> None:
    """At request time: the timeframe is a number and a unit, the symbol one a run record can show, and the last
    bar's time stays within the calendar (year 9999) and int64 milliseconds."""
    step = _step_ms(str(args.get("timeframe", "1h")))
    _symbol(str(args.get("symbol", "SYNTH")))
    bars = int(args.get("bars", 10_000))
    most = (LAST_MS - SYNTHETIC_EPOCH_MS) // step + 1
    if bars > most:
        raise ParamError(
            f"feed.args.bars: {bars} bars of {args.get('timeframe', '1h')} would run past the year 9999; "
            f"at most {most} at this timeframe",
            field="feed.args.bars",
        )


def _step_ms(timeframe: str) -> int:
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise ParamError(
            f"feed.args.timeframe must be a number and a unit like 1m, 4h, 1d, got {timeframe[:40]!r}",
            field="feed.args.timeframe",
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _symbol(symbol: str) -> None:
    if len(symbol) > MAX_SYMBOL or not symbol.isprintable():
        raise ParamError(
            f"feed.args.symbol must be at most {MAX_SYMBOL} printable characters, got {symbol[:40]!r}",
            field="feed.args.symbol",
        )


def _inside(name: str, data_dir: Path) -> Path:
    field = "feed.args.path"
    if (
        name in {".", ".."}
        or "/" in name
        or "\\" in name
        or "\0" in name
        or ":" in name
        or Path(name).is_absolute()
        or name.startswith(".")
    ):
        raise ParamError(f"{field} must be a plain file name inside the data directory, got {name!r}", field=field)
    if not name.endswith(".csv"):
        raise ParamError(f"{field} must name a .csv file, got {name!r}", field=field)
    root = data_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path.parent != root:
        raise ParamError(f"{field} {name!r} leads outside the data directory", field=field)
    if not path.is_file():
        raise DataError(f"no data file named {name!r} in the data directory", field=field)
    return path


def synthetic_seed(symbol: str, timeframe: str) -> int:
    """The default seed: stable across processes and machines (sha256, never Python's salted ``hash()``)."""
    digest = hashlib.sha256(f"{symbol}|{timeframe}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def load_synthetic(args: Mapping[str, Any], env: FeedEnv) -> Candles:
    """A geometric random walk: close = price * exp(cumsum(N(0, volatility))); each bar opens at the previous
    close; high and low reach beyond the body by half-normal wicks; times start at 2020-01-01Z, one timeframe apart.
    The same args always give the same candles."""
    check_synthetic(args, env)
    symbol, timeframe = str(args.get("symbol", "SYNTH")), str(args.get("timeframe", "1h"))
    step = _step_ms(timeframe)
    n = int(args.get("bars", 10_000))
    if not 1 <= n <= MAX_SYNTHETIC_BARS:
        raise ParamError(f"feed.args.bars must be within 1..{MAX_SYNTHETIC_BARS}", field="feed.args.bars")
    seed = int(args.get("seed", -1))
    rng = np.random.default_rng(synthetic_seed(symbol, timeframe) if seed < 0 else seed)
    vol = float(args.get("volatility", 0.01))
    price = float(args.get("price", 100.0))
    close = price * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.empty(n)
    open_[0] = price
    open_[1:] = close[:-1]
    wicks = np.abs(rng.normal(0.0, vol / 2, (2, n)))
    high = np.maximum(open_, close) * np.exp(wicks[0])
    low = np.minimum(open_, close) * np.exp(-wicks[1])
    volume = np.round(rng.lognormal(10.0, 1.0, n), 4)
    timestamp = SYNTHETIC_EPOCH_MS + step * np.arange(n, dtype=np.int64)
    return Candles.from_arrays(
        timestamp=timestamp,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        symbol=symbol,
        timeframe=timeframe,
    )


def load_default(args: Mapping[str, Any], env: FeedEnv) -> Candles:
    """NASDAQ:GOOG daily, 2004-08-19 .. 2013-03-01 (2,148 bars), read once per process from package data."""
    return _default_candles()


@functools.cache
def _default_candles() -> Candles:
    with resources.files(__package__).joinpath("data/GOOG.csv").open("rb") as fh:
        return load_candles(fh, symbol="GOOG", timeframe="1d")


def stamp_csv(args: Mapping[str, Any], env: FeedEnv) -> str:
    """The file's size and modification time: it changes when the file does (FeedSpec.stamp)."""
    raw = str(args.get("path", ""))
    path = _inside(raw, env.data_dir) if env.restricted else Path(raw)
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


@hookimpl
def register_feeds(register: Callable[[FeedSpec], None]) -> None:
    register(
        FeedSpec(
            name="csv",
            load=load_csv,
            params=CSV_PARAMS,
            check=check_csv,
            stamp=stamp_csv,
            help="a CSV file: a date or epoch-ms time column, then Open, High, Low, Close, optional Adj Close "
            "and Volume (pandas, Yahoo and lower-case headers; ',' or ';' separated)",
        )
    )
    register(
        FeedSpec(
            name="synthetic",
            load=load_synthetic,
            params=SYNTHETIC_PARAMS,
            check=check_synthetic,
            help="a seeded random walk: the same args give the same candles",
        )
    )
    register(
        FeedSpec(
            name="default",
            load=load_default,
            help="the embedded real data set: GOOG daily 2004-08-19..2013-03-01, 2,148 bars",
        )
    )
    from .market import btcturk_feed  # the exchange feed (spark_plugins.market), registered with the built-ins

    register(btcturk_feed)
