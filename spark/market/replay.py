"""`ReplayCandleSource`: a `CandleSource` over a CSV file of Spark's own layout (``timestamp,open,high,low,close,
volume``, epoch ms), played forward on a clock of its own. A product feature: try live sessions offline, rehearse a
strategy on a recorded day, and test sessions without an exchange.

The replay keeps a data clock: it starts at ``start_ms`` (data time) when the source is made (or at the wall-clock
``anchor_s`` given, so a session resumed after a restart finds the clock where it would have been) and runs
``speed`` times faster than the clock it is given. ``history`` answers the rows whose candle has closed on that clock
(``ts + interval <= now``), never the future; ``run`` sends each later row once its close time passes, so with evenly
spaced rows a candle arrives every ``interval / speed`` seconds; a gap in the file is a longer wait, never invented
rows. At the end of the file it sends ``FeedState.CLOSED`` and returns.

The file is read once, in a worker thread, and validated as candles are (`spark.engine.candles.Candles`); a bad file
is a DataError naming it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import trio

from spark.engine.candles import Candles
from spark.engine.options import periods_per_year_for
from spark.errors import DataError, InputError
from spark.market.source import FeedEvent, FeedState, LiveCandle

__all__ = ["HEADER", "ReplayCandleSource", "interval_ms", "read_candle_rows", "write_row"]

HEADER = "timestamp,open,high,low,close,volume"
_YEAR_MS = 365 * 86_400_000


def interval_ms(timeframe: str) -> int:
    """Milliseconds per candle of ``timeframe`` (``1m`` -> 60000); InputError (field ``timeframe``) if unknown."""
    per_year = periods_per_year_for(timeframe)
    if per_year is None:
        raise InputError(
            f"unsupported timeframe {timeframe!r} (a number and a unit: 1m, 15m, 1h, 4h, 1d)", field="timeframe"
        )
    return round(_YEAR_MS / per_year)


def write_row(candle: LiveCandle) -> str:
    """One CSV line of Spark's layout; ``repr`` of a float reads back as the same float."""
    c = candle
    return f"{c.ts},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}\n"


def read_candle_rows(path: Path) -> list[LiveCandle]:
    """The rows of a Spark-layout CSV file as candles, validated (blocking: call it in a thread)."""
    try:
        with path.open(encoding="utf-8") as handle:
            header = handle.readline().strip().lower().replace(" ", "")
            if header != HEADER:
                raise DataError(f"{path.name} line 1: expected the header {HEADER!r}, got {header[:80]!r}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data": an empty file is []
                rows = np.loadtxt(handle, delimiter=",", ndmin=2, dtype=np.float64)
    except OSError as exc:
        raise DataError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DataError(f"{path.name}: {exc}") from None
    if rows.size == 0:
        return []
    if rows.shape[1] != 6:
        raise DataError(f"{path.name}: expected 6 columns, got {rows.shape[1]}")
    try:
        Candles.from_arrays(
            timestamp=rows[:, 0], open=rows[:, 1], high=rows[:, 2], low=rows[:, 3], close=rows[:, 4], volume=rows[:, 5]
        )
    except DataError as exc:
        raise DataError(f"{path.name}: {exc.message}") from None
    return [
        LiveCandle(
            ts=int(r[0]), open=float(r[1]), high=float(r[2]), low=float(r[3]), close=float(r[4]), volume=float(r[5])
        )
        for r in rows
    ]


class ReplayCandleSource:
    """Closed candles from a recorded file, on a data clock ``speed`` times faster than ``clock`` (seconds)."""

    exchange = "replay"

    def __init__(
        self,
        rows: Sequence[LiveCandle],
        *,
        pair: str,
        timeframe: str,
        speed: float = 60.0,
        start_ms: int | None = None,
        anchor_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not rows:
            raise DataError(f"no candles to replay for {pair} {timeframe}")
        if not speed > 0:
            raise InputError(f"the replay speed must be > 0, got {speed!r}", field="speed")
        self.pair, self.timeframe = pair, timeframe
        self.interval = interval_ms(timeframe)
        self._rows = list(rows)
        self._ts = np.array([c.ts for c in self._rows], dtype=np.int64)
        self.speed = float(speed)
        self.start_ms = int(self._ts[0]) if start_ms is None else int(start_ms)
        self._clock = clock
        self.anchor_s = clock() if anchor_s is None else float(anchor_s)

    @classmethod
    async def open(cls, path: Path, **kwargs: object) -> ReplayCandleSource:
        """Read ``path`` in a worker thread, then build the source (``kwargs`` as for the constructor)."""
        rows = await trio.to_thread.run_sync(read_candle_rows, path)
        return cls(rows, **kwargs)  # type: ignore[arg-type]

    def now_ms(self) -> int:
        """The replay's data time now."""
        return self.start_ms + int((self._clock() - self.anchor_s) * self.speed * 1000)

    @property
    def first_ms(self) -> int:
        return int(self._ts[0])

    @property
    def last_ms(self) -> int:
        return int(self._ts[-1])

    def _closed_before(self, now_ms: int) -> int:
        """How many rows have closed by data time ``now_ms``."""
        return int(np.searchsorted(self._ts, now_ms - self.interval, side="right"))

    async def history(self, since_ms: int, until_ms: int) -> Sequence[LiveCandle]:
        """Rows with ``since_ms <= ts < until_ms`` that have closed on the replay clock."""
        lo = int(np.searchsorted(self._ts, since_ms, side="left"))
        hi = min(int(np.searchsorted(self._ts, until_ms, side="left")), self._closed_before(self.now_ms()))
        return self._rows[lo:hi] if hi > lo else []

    async def run(self, send: trio.MemorySendChannel[FeedEvent]) -> None:
        """Send each row once it closes on the replay clock (rows closed before the call are history), then
        ``CLOSED`` at the end of the file."""
        await send.send(FeedEvent(state=FeedState.CONNECTED, detail=f"replaying {len(self._rows)} candles"))
        index = self._closed_before(self.now_ms())
        while index < len(self._rows):
            candle = self._rows[index]
            wait_ms = candle.ts + self.interval - self.now_ms()
            if wait_ms > 0:
                await trio.sleep(wait_ms / 1000 / self.speed)
                continue
            await send.send(FeedEvent(candle=candle))
            index += 1
        await send.send(FeedEvent(state=FeedState.CLOSED, detail="the replay reached the end of its file"))
