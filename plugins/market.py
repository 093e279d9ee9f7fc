"""The ``btcturk`` feed: closed candles of a BTCTurk pair from its klines history (`spark.market.history`, the code
``spark data fetch`` uses), for ``spark backtest --data btcturk --feed-arg pair=BTCTRY --feed-arg timeframe=1h
--feed-arg since=2024-01-01``.

Over the API (a restricted `FeedEnv`) it calls the exchange only when an operator has set ``market_data_enabled``
(SPARK_MARKET_DATA_ENABLED=true or spark.toml); otherwise a start naming it is refused with 403. The Settings
(base URLs, limits) are read from the environment and ./spark.toml where the feed runs, as the server reads them.
Registered by the ``feeds`` plugin's hook (`spark_plugins.feeds`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import trio

from spark import Candles, FeedEnv, FeedSpec, Param
from spark.config import load_settings
from spark.errors import DataError, Forbidden, InputError, ParamError
from spark.market.history import check_range, fetch_range, parse_when
from spark.market.klines import RESOLUTIONS, check_timeframe

__all__ = ["BTCTURK_PARAMS", "btcturk_feed", "check_btcturk", "load_btcturk"]

_PAIR = re.compile(r"^[A-Za-z0-9_]{2,32}$")

BTCTURK_PARAMS = (
    Param(name="pair", type="str", default="BTCTRY", help="the pair as BTCTurk lists it (BTCTRY or BTC_TRY)"),
    Param(name="timeframe", type="str", default="1h", choices=tuple(RESOLUTIONS), help="candle length"),
    Param(name="since", type="str", default="", help="first candle: a UTC date (2024-01-01) or epoch ms; required"),
    Param(name="until", type="str", default="", help="stop before this time (default: the last closed candle)"),
)


def check_btcturk(args: Mapping[str, Any], env: FeedEnv) -> None:
    """At request time: allowed here, a well-formed pair, a served timeframe, a range that has candles."""
    if env.restricted and not load_settings().market_data_enabled:
        raise Forbidden(
            "the btcturk feed is off over the API: an operator enables it with SPARK_MARKET_DATA_ENABLED=true",
            field="feed.name",
        )
    _range(args)


def _range(args: Mapping[str, Any]) -> tuple[str, str, int, int | None]:
    pair = str(args.get("pair", "BTCTRY"))
    if not _PAIR.match(pair):
        raise ParamError(f"feed.args.pair must be letters, digits and _, got {pair[:40]!r}", field="feed.args.pair")
    timeframe = check_timeframe(str(args.get("timeframe", "1h")), field="feed.args.timeframe")
    if not str(args.get("since", "")):
        raise ParamError("feed.args.since is required: the first candle's date", field="feed.args.since")
    since = parse_when(str(args["since"]), "feed.args.since")
    until = parse_when(str(args["until"]), "feed.args.until") if str(args.get("until", "")) else None
    try:
        check_range(timeframe, since, until, int(time.time() * 1000))
    except InputError as exc:  # names since or until: here they are feed args
        field = f"feed.args.{exc.field}"
        raise ParamError(f"feed.args.{exc.message}", field=field) from None
    return pair, timeframe, since, until


def load_btcturk(args: Mapping[str, Any], env: FeedEnv) -> Candles:
    check_btcturk(args, env)
    pair, timeframe, since, until = _range(args)
    settings = load_settings()
    name, klines = _run_trio(lambda: fetch_range(settings, pair, timeframe, since, until))
    if not klines:
        raise DataError(f"BTCTurk has no {name} {timeframe} candles in the range asked", field="feed.args.since")
    columns = list(zip(*((k.ts, k.open, k.high, k.low, k.close, k.volume) for k in klines), strict=True))
    return Candles.from_arrays(
        timestamp=np.array(columns[0], dtype=np.int64),
        open=np.array([float(x) for x in columns[1]]),
        high=np.array([float(x) for x in columns[2]]),
        low=np.array([float(x) for x in columns[3]]),
        close=np.array([float(x) for x in columns[4]]),
        volume=np.array([float(x) for x in columns[5]]),
        symbol=name,
        timeframe=timeframe,
    )


def _run_trio(fn: Any) -> Any:
    """``trio.run(fn)``; from inside a running trio loop, in a thread of its own (a loop cannot nest)."""
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return trio.run(fn)
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["value"] = trio.run(fn)
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=work, name="btcturk-feed")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


btcturk_feed = FeedSpec(
    name="btcturk",
    load=load_btcturk,
    params=BTCTURK_PARAMS,
    check=check_btcturk,
    help="BTCTurk klines history (closed candles); over the API only with market_data_enabled",
)
