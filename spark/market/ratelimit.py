"""A sliding-window request limiter for one exchange host: at most ``limit`` calls in any ``period_s``.

Trio time (``trio.current_time``), so it is tested under ``autojump_clock``; a 429 blocks the whole host until its
``Retry-After`` has passed (`block_for`), as the exchange blocks the IP, not the single call.
"""

from __future__ import annotations

from collections import deque

import trio

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, limit: int, period_s: float) -> None:
        if limit < 1 or period_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and period_s > 0")
        self.limit = limit
        self.period_s = period_s
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = trio.Lock()

    async def acquire(self) -> None:
        """Wait until one more call fits in the window (and any block has passed), then count it."""
        async with self._lock:  # callers go in order: a waiter is never overtaken
            while True:
                now = trio.current_time()
                while self._sent and self._sent[0] <= now - self.period_s:
                    self._sent.popleft()
                wait_until = self._blocked_until
                if len(self._sent) >= self.limit:
                    wait_until = max(wait_until, self._sent[0] + self.period_s)
                if wait_until <= now:
                    self._sent.append(now)
                    return
                await trio.sleep_until(wait_until)

    def block_for(self, seconds: float) -> None:
        """The host said 429: no call goes out for ``seconds``."""
        self._blocked_until = max(self._blocked_until, trio.current_time() + seconds)

    def statistics(self) -> dict[str, float]:
        return {"in_window": len(self._sent), "blocked_until": self._blocked_until}
