"""Market time in epoch milliseconds: the wall clock, or a wall clock running ``speed`` times faster (the fake
exchange and its tests, so that a 1-minute candle closes every second). Watchdogs and backoff never use it: they
run on real seconds (`trio.sleep`)."""

from __future__ import annotations

import time

import trio

__all__ = ["MarketClock"]


class MarketClock:
    """``now_ms()`` is ``origin_ms`` plus the wall time since creation times ``speed`` (1.0: the wall clock)."""

    def __init__(self, speed: float = 1.0, origin_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("a market clock needs speed > 0")
        self.speed = speed
        self._wall0 = time.time()
        self.origin_ms = int(self._wall0 * 1000) if origin_ms is None else origin_ms

    def now_ms(self) -> int:
        return self.origin_ms + int((time.time() - self._wall0) * 1000 * self.speed)

    def seconds_until(self, ts_ms: int) -> float:
        """Real seconds until the market time reaches ``ts_ms`` (0 if it has)."""
        return max(0.0, (ts_ms - self.now_ms()) / 1000 / self.speed)

    async def sleep_until(self, ts_ms: int) -> None:
        """Sleep (real time) until the market time reaches ``ts_ms``."""
        await trio.sleep(self.seconds_until(ts_ms) + 0.002 / self.speed)  # past int-ms rounding
