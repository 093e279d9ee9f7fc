"""Candles built from trades, bucketed by the trade's own time: the forming candle is replaced in place as trades
arrive (open is the earliest trade, close the latest, by trade time, whatever order they came in), and taken out
when its interval has passed (`take`). Exact decimals throughout; a trade seen twice (a 421 batch after a
reconnect repeats trades) counts once."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from spark.market.frames import Trade
from spark.market.klines import Kline
from spark.market.source import LiveCandle

__all__ = ["CandleBuilder", "as_live", "flat_candle"]


@dataclass(slots=True)
class _Forming:
    first: Trade
    last: Trade
    high: Decimal
    low: Decimal
    volume: Decimal


class CandleBuilder:
    def __init__(self, step_ms: int, remember: int = 5000) -> None:
        self.step_ms = step_ms
        self._forming: dict[int, _Forming] = {}
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._remember = remember
        self.closed_before = -(2**63)  # trades before this (their candle was taken) are late: ignored
        self.late = 0  # trades that came after their candle was taken

    def add(self, trade: Trade) -> bool:
        """Add a trade; False if it was a repeat or late."""
        if trade.tid in self._seen:
            return False
        self._seen.add(trade.tid)
        self._seen_order.append(trade.tid)
        if len(self._seen_order) > self._remember:
            self._seen.discard(self._seen_order.popleft())
        bucket = trade.ts // self.step_ms * self.step_ms
        if bucket < self.closed_before:
            self.late += 1
            return False
        candle = self._forming.get(bucket)
        if candle is None:
            self._forming[bucket] = _Forming(trade, trade, trade.price, trade.price, trade.amount)
            return True
        if trade.ts < candle.first.ts:
            candle.first = trade
        if trade.ts >= candle.last.ts:
            candle.last = trade
        candle.high = max(candle.high, trade.price)
        candle.low = min(candle.low, trade.price)
        candle.volume += trade.amount
        return True

    def forming(self, bucket: int) -> Kline | None:
        candle = self._forming.get(bucket)
        if candle is None:
            return None
        return Kline(bucket, candle.first.price, candle.high, candle.low, candle.last.price, candle.volume)

    def take(self, bucket: int) -> Kline | None:
        """The candle of ``bucket`` (None: no trades), closing it and every older one."""
        found = self.forming(bucket)
        for ts in [ts for ts in self._forming if ts <= bucket]:
            del self._forming[ts]
        self.closed_before = max(self.closed_before, bucket + self.step_ms)
        return found


def as_live(k: Kline, *, filled: bool = False) -> LiveCandle:
    return LiveCandle(k.ts, float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume), filled=filled)


def flat_candle(ts: int, previous_close: Decimal) -> Kline:
    """A candle nobody could recover: flat at the previous close, volume 0 (sent with ``filled=True``)."""
    return Kline(ts, previous_close, previous_close, previous_close, previous_close, Decimal(0))
