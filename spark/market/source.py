"""The contract between a live candle source (an exchange feed) and whatever consumes its candles (a live session).

A source runs as a trio task: ``await source.run(send)`` sends ``FeedEvent``s until it is cancelled or fails for good
(then it sends a final ``failed`` status and returns). Closed candles only, in time order, each once; a candle that
could not be recovered after a gap is sent with ``filled=True`` (flat at the previous close, volume 0), never invented
silently. A source that checks its candles against the exchange later (BTCTurk reconciles each candle built from
trades one interval on) may send a candle already sent once more as a ``correction``: the exchange's version, same
``ts``, after the candle itself. ``history`` answers closed candles from the exchange's REST history (corrections
included), for warm-up and for catching up.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import trio

__all__ = ["CandleSource", "FeedEvent", "FeedState", "LiveCandle"]


class FeedState(enum.StrEnum):
    """What a feed is doing, as the dashboard's badge shows it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STALE = "stale"
    REST_FALLBACK = "rest_fallback"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class LiveCandle:
    """One closed candle; ``ts`` is its open time in epoch milliseconds."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    filled: bool = False


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A closed candle, the exchange's correction of one sent before, or a change of the feed's state (``detail``
    says why, for logs and the dashboard)."""

    candle: LiveCandle | None = None
    correction: LiveCandle | None = None
    state: FeedState | None = None
    detail: str = ""


class CandleSource(Protocol):
    """A feed of closed candles for one pair and timeframe."""

    exchange: str
    pair: str
    timeframe: str

    async def history(self, since_ms: int, until_ms: int) -> Sequence[LiveCandle]:
        """Closed candles with ``since_ms <= ts < until_ms``, oldest first."""
        ...

    async def run(self, send: trio.MemorySendChannel[FeedEvent]) -> None:
        """Send closed candles and state changes until cancelled (or failed for good)."""
        ...
