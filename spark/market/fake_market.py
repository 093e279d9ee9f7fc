"""The fake exchange's market: a seeded random walk of trades per pair on a `MarketClock`, and the klines it
answers (built from those trades from its start on; before it, one seeded candle per bucket, so history reaches
back years). Everything here is deterministic given the seed and the trade times."""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["FAKE_PAIRS", "FakeMarket", "FakeTrade"]

# pair -> (starting price, price decimals); names as exchangeinfo lists them
FAKE_PAIRS: dict[str, tuple[str, int]] = {
    "BTCTRY": ("586484.00", 2),
    "ETHTRY": ("98210.50", 2),
    "BTCUSDT": ("86699", 0),
    "ETHUSDT": ("2769.6", 1),
}
_AMOUNT = Decimal("0.0000000001")


@dataclass(frozen=True, slots=True)
class FakeTrade:
    pair: str
    ts: int
    tid: str
    price: Decimal
    amount: Decimal
    side: int  # 0 buy, 1 sell (unverified meaning, as on the wire)


class FakeMarket:
    """Trades appended by `trade`; `klines` aggregates them. ``gap`` ([start, end) ms) is a hole the klines
    endpoint leaves out (scenario ``gap``)."""

    def __init__(self, start_ms: int, seed: int = 7) -> None:
        self.start_ms = start_ms
        self._rng = random.Random(seed)
        self.trades: dict[str, list[FakeTrade]] = {pair: [] for pair in FAKE_PAIRS}
        self._price = {pair: Decimal(price) for pair, (price, _) in FAKE_PAIRS.items()}
        self._tid = 100163785789620803
        self.gap: tuple[int, int] | None = None

    def trade(self, pair: str, ts: int) -> FakeTrade:
        """A new trade at ``ts`` (never before the last one), the price one random step on."""
        book = self.trades[pair]
        ts = max(ts, book[-1].ts if book else ts)
        places = FAKE_PAIRS[pair][1]
        step = Decimal(1).scaleb(-places)
        price = self._price[pair] * Decimal(str(1 + self._rng.gauss(0, 0.0005)))
        price = max(step, price.quantize(step))
        self._price[pair] = price
        amount = (Decimal(str(self._rng.lognormvariate(-6, 1))) + _AMOUNT).quantize(_AMOUNT)
        self._tid += 1
        made = FakeTrade(pair, ts, str(self._tid), price, amount, self._rng.randint(0, 1))
        book.append(made)
        return made

    def last_trades(self, pair: str, n: int = 50) -> list[FakeTrade]:
        """The newest ``n`` trades, newest first (as the 421 batch lists them)."""
        return list(reversed(self.trades[pair][-n:]))

    def klines(self, pair: str, step_ms: int, from_ms: int, to_ms: int, *, until_ms: int) -> list[tuple]:
        """Candles ``(ts, o, h, l, c, v)`` with ``from_ms <= ts <= to_ms`` that have begun by ``until_ms`` (the
        forming one included, as the real endpoint does); the ``gap`` left out."""
        out = []
        first = -(-from_ms // step_ms) * step_ms
        history_end = self.start_ms // step_ms * step_ms  # buckets wholly before the start are seeded candles
        ts = first
        while ts <= min(to_ms, until_ms) and ts < history_end:
            out.append(_seeded_candle(pair, step_ms, ts))
            ts += step_ms
        book = self.trades[pair]
        if book and to_ms >= history_end:
            lo = bisect_left([t.ts for t in book], max(first, history_end))
            bucket: list[FakeTrade] = []
            for t in book[lo:]:
                if t.ts > min(to_ms + step_ms - 1, until_ms):
                    break
                if bucket and t.ts // step_ms != bucket[0].ts // step_ms:
                    out.append(_aggregate(bucket, step_ms))
                    bucket = []
                bucket.append(t)
            if bucket:
                out.append(_aggregate(bucket, step_ms))
        if self.gap is not None:
            start, end = self.gap
            out = [k for k in out if not start <= k[0] < end]
        return out


def _aggregate(trades: list[FakeTrade], step_ms: int) -> tuple:
    prices = [t.price for t in trades]
    return (
        trades[0].ts // step_ms * step_ms,
        prices[0],
        max(prices),
        min(prices),
        prices[-1],
        sum((t.amount for t in trades), Decimal(0)),
    )


def _seeded_candle(pair: str, step_ms: int, ts: int) -> tuple:
    seed = int.from_bytes(hashlib.sha256(f"{pair}|{step_ms}|{ts}".encode()).digest()[:8], "little")
    rng = random.Random(seed)
    base, places = FAKE_PAIRS[pair]
    step = Decimal(1).scaleb(-places)
    center = Decimal(base) * Decimal(str(1 + rng.uniform(-0.2, 0.2)))
    o, c = (center * Decimal(str(1 + rng.gauss(0, 0.01)))).quantize(step), center.quantize(step)
    h = max(o, c) + (center * Decimal(str(abs(rng.gauss(0, 0.003))))).quantize(step)
    lo = min(o, c) - (center * Decimal(str(abs(rng.gauss(0, 0.003))))).quantize(step)
    volume = Decimal(str(round(rng.lognormvariate(1, 1), 8)))
    return (ts, o, h, lo, c, volume)
