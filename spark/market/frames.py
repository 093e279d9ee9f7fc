"""BTCTurk WebSocket frames: ``[type, {model}]`` parsed into what the feed needs, anything else refused.

A frame that is not JSON, not a two-item array of an integer and an object, or a trade model with a missing or
non-decimal field raises `BadFrame` (the feed counts it and goes on). Prices and amounts are decimal strings,
parsed into `Decimal` exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from spark.errors import DataError
from spark.market.klines import parse_decimal

__all__ = ["ACK", "TRADE", "TRADES", "WELCOME", "BadFrame", "Trade", "parse_frame", "subscribe_frame", "trade_of"]

WELCOME, ACK, SUBSCRIBE, TRADES, TRADE = 991, 100, 151, 421, 422


class BadFrame(ValueError):
    """A frame the feed cannot use (counted in spark_feed_bad_frames_total, then skipped)."""


@dataclass(frozen=True, slots=True)
class Trade:
    ts: int  # trade time, epoch ms (the exchange's ``D``)
    tid: str
    price: Decimal
    amount: Decimal


def subscribe_frame(pair: str, channel: str = "trade") -> str:
    return json.dumps([SUBSCRIBE, {"type": SUBSCRIBE, "channel": channel, "event": pair, "join": True}])


def parse_frame(message: str | bytes) -> tuple[int, dict[str, Any]]:
    try:
        frame = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        raise BadFrame(f"not JSON: {str(message)[:60]!r}") from None
    if (
        not isinstance(frame, list)
        or len(frame) != 2
        or isinstance(frame[0], bool)
        or not isinstance(frame[0], int)
        or not isinstance(frame[1], dict)
    ):
        raise BadFrame(f"not [type, {{...}}]: {str(message)[:60]!r}")
    return frame[0], frame[1]


def trade_of(row: Any) -> Trade:
    """One trade from a 421 item or a 422 model (``D``, ``I``, ``P``, ``A``)."""
    if not isinstance(row, dict):
        raise BadFrame(f"a trade is not an object: {str(row)[:60]!r}")
    try:
        ts = int(str(row["D"]))
        return Trade(ts, str(row["I"]), parse_decimal(row["P"], "trade P"), parse_decimal(row["A"], "trade A"))
    except (KeyError, ValueError, DataError) as exc:
        raise BadFrame(f"a trade without a usable D/I/P/A ({exc}): {str(row)[:80]!r}") from None
