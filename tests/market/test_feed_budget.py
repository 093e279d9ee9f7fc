"""One request budget per BTCTurk host for everything a feed asks over REST: its candle polling (the socket down),
its reconciliation and a paged `history` (warm-up, backfill) together keep to the limit, counted at the fake."""

from __future__ import annotations

import trio

from spark.market.btcturk import BtcturkCandleSource
from spark.market.source import FeedEvent

M = 60_000
KLINES = "/v1/klines/history"


def most_in_a_window(times: list[float], window_s: float) -> int:
    return max((sum(1 for u in times[i:] if u - t < window_s) for i, t in enumerate(times)), default=0)


async def test_history_and_the_feeds_polling_share_the_graph_hosts_budget(fake) -> None:
    settings = fake.client_settings(
        market_graph_limit=4, market_graph_period_s=1.0, market_klines_page=10,
        btcturk_ws_url="ws://127.0.0.1:9",  # nothing listens there: the feed polls klines for every candle
    )  # fmt: skip
    source = BtcturkCandleSource(settings, "BTCTRY", "1m", clock=fake.exchange.clock)
    send, receive = trio.open_memory_channel[FeedEvent](100)
    candles = []

    async def drain() -> None:
        async for event in receive:
            if event.candle is not None:
                candles.append(event.candle)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(source.run, send)
        nursery.start_soon(drain)
        await trio.sleep(0.6)  # the feed is polling
        now = source.clock.now_ms() // M * M
        found = await source.history(now - 80 * M, now)  # 8 pages
        nursery.cancel_scope.cancel()
    assert [c.ts for c in found] == [now - (80 - i) * M for i in range(80)]
    assert candles  # the feed got its candles from REST meanwhile
    times = [t for t, path in fake.exchange.asked_at if path == KLINES]
    assert len(times) >= 10  # history's 8 pages and the feed's polls: the budget was what held them back
    assert most_in_a_window(times, 0.8) <= 4  # under the 1 s window (arrival jitter: the client counts sends)
