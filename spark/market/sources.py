"""Opening a `CandleSource` by exchange name, from the Settings: the one place a live session (the service's and
``spark live``'s) gets its feed.

Each exchange is an opener in `EXCHANGES`: ``await opener(settings, pair, timeframe, state, file)`` returns an
`OpenedSource`: the source, the clock of its market (epoch ms: the wall clock for a real exchange, the data clock
for a replay) and the ``state`` to keep in the session's evidence so that a resumed session reopens the same feed.
Bad input (an unknown exchange or pair, an unsupported timeframe) is an InputError naming the field, raised before
anything is started.

``replay`` plays ``<data_dir>/<PAIR>-<timeframe>.csv`` (or the ``file`` given: ``spark live --file``), at
``replay_speed`` times real time, its clock starting ``replay_lead_bars`` rows into the file so that a session has
history to warm up on. Registration point for real exchanges: add ``"btcturk": open_btcturk`` to `EXCHANGES`
(spark.market.btcturk's opener, same signature).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from spark.config import Settings
from spark.errors import InputError
from spark.market.replay import ReplayCandleSource, interval_ms, read_candle_rows
from spark.market.source import CandleSource

__all__ = ["EXCHANGES", "OpenedSource", "check_market", "open_source", "replay_path"]

_PAIR = re.compile(r"^[A-Za-z0-9_]{1,32}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenedSource:
    source: CandleSource
    now_ms: Callable[[], int]
    state: dict[str, Any] = field(default_factory=dict)  # JSON: kept in session.json, handed back on resume


Opener = Callable[[Settings, str, str, Mapping[str, Any] | None, Path | None], Awaitable[OpenedSource]]


def replay_path(settings: Settings, pair: str, timeframe: str) -> Path:
    return settings.data_dir / f"{pair}-{timeframe}.csv"


async def open_replay(
    settings: Settings, pair: str, timeframe: str, state: Mapping[str, Any] | None, file: Path | None
) -> OpenedSource:
    if state is not None:
        path, speed = Path(state["file"]), float(state["speed"])
    else:
        path, speed = (file or replay_path(settings, pair, timeframe)), settings.replay_speed
    if not path.is_file():
        raise InputError(
            f"no replay file for {pair} {timeframe}: {path.name} is not in the data directory", field="pair"
        )
    rows = await trio.to_thread.run_sync(read_candle_rows, path)
    if not rows:
        raise InputError(f"the replay file {path.name} holds no candles", field="pair")
    if state is not None:
        start_ms, anchor_s = int(state["startMs"]), float(state["anchorS"])
    else:  # the clock starts replay_lead_bars rows in: history to warm up on
        start_ms, anchor_s = rows[min(settings.replay_lead_bars, len(rows) - 1)].ts, None
    source = ReplayCandleSource(rows, pair=pair, timeframe=timeframe, speed=speed, start_ms=start_ms, anchor_s=anchor_s)
    kept = {"file": str(path), "speed": speed, "startMs": source.start_ms, "anchorS": source.anchor_s}
    return OpenedSource(source=source, now_ms=source.now_ms, state=kept)


# Exchange name -> opener. The market engineer's btcturk feed registers here: "btcturk": open_btcturk.
EXCHANGES: dict[str, Opener] = {"replay": open_replay}


def check_market(exchange: Any, pair: Any, timeframe: Any) -> tuple[str, str, str]:
    """The exchange, pair and timeframe if well-formed and known; InputError naming the field otherwise."""
    if not isinstance(exchange, str) or exchange not in EXCHANGES:
        raise InputError(
            f"unknown exchange {str(exchange)[:40]!r} (known: {', '.join(sorted(EXCHANGES))})", field="exchange"
        )
    if not isinstance(pair, str) or not _PAIR.match(pair):
        raise InputError(f"pair must be letters, digits and _ (at most 32), got {str(pair)[:40]!r}", field="pair")
    if not isinstance(timeframe, str):
        raise InputError("timeframe must be a string like 1m, 1h, 1d", field="timeframe")
    interval_ms(timeframe)
    return exchange, pair, timeframe


async def open_source(
    settings: Settings,
    exchange: str,
    pair: str,
    timeframe: str,
    *,
    state: Mapping[str, Any] | None = None,
    file: Path | None = None,
) -> OpenedSource:
    """The feed for ``pair``/``timeframe`` on ``exchange``; ``state`` (from a session's evidence) reopens the same
    one after a restart. InputError naming the field when it cannot be opened."""
    check_market(exchange, pair, timeframe)
    return await EXCHANGES[exchange](settings, pair, timeframe, state, file)
