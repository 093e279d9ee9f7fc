"""A sliding-window rate limiter keyed by client address, with bounded memory.

Each key keeps the times of its last ``limit`` accepted attempts; a new attempt inside the window is refused with
the seconds until the oldest one leaves it. At most ``max_keys`` keys are tracked: the least recently seen is
forgotten first (an attacker spraying addresses can only reset others' windows, never grow memory).
Time comes from ``clock`` (``trio.current_time`` by default), so tests can drive it. Each rate bucket of DESIGN.md's
mutation table is one limiter: ``RateLimiter(what="starts")`` and ``RateLimiter(what="mutations")``; ``what``
names the bucket in the refusal.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable

import trio

from spark.errors import RateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self, *, what: str = "starts", clock: Callable[[], float] = trio.current_time, window_s: float = 60.0
    ) -> None:
        self.what = what
        self._clock = clock
        self._window = window_s
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._hits)

    def hit(self, key: str, *, limit: int, max_keys: int) -> None:
        """Count one attempt by ``key``; raise RateLimited (with ``retry_after`` seconds) over ``limit``."""
        now = self._clock()
        hits = self._hits.pop(key, None)
        if hits is None:
            hits = deque()
        self._hits[key] = hits  # most recently seen last
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        while len(hits) > limit:  # the limit was lowered (SIGHUP)
            hits.popleft()
        if len(hits) >= limit:
            wait = hits[0] + self._window - now
            raise RateLimited(
                f"at most {limit} {self.what} a minute from one address; retry in {math.ceil(wait)} s",
                retry_after=math.ceil(wait),
            )
        hits.append(now)
        while len(self._hits) > max_keys:
            self._hits.popitem(last=False)
