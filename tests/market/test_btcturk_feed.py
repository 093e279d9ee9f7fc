"""The live BTCTurk feed against the fake exchange, one failure mode a test (real sockets, market clock 60x: a 1m
candle closes every second; watchdogs and backoff scaled down through the Settings)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import pytest
import trio

from spark.errors import InputError, ParamError
from spark.market.btcturk import BtcturkCandleSource, open_btcturk_source
from spark.market.source import FeedEvent, FeedState
from spark.metrics import Metrics

M = 60_000


class Recorder:
    def __init__(self) -> None:
        self.events: list[FeedEvent] = []

    @property
    def candles(self):
        return [e.candle for e in self.events if e.candle is not None]

    @property
    def states(self) -> list[FeedState]:
        return [e.state for e in self.events if e.state is not None]

    def detail(self, state: FeedState) -> str:
        return next(e.detail for e in self.events if e.state == state)


async def feed(
    fake, seconds: float, *, pair: str = "BTCTRY", until: Callable[[Recorder], bool] | None = None, **settings
) -> tuple[BtcturkCandleSource, Recorder]:
    """Run a source for at most ``seconds`` (or until ``until`` holds); what it sent."""
    source = BtcturkCandleSource(
        fake.client_settings(**settings), pair, "1m", metrics=Metrics(), clock=fake.exchange.clock
    )
    seen = Recorder()
    send, receive = trio.open_memory_channel[FeedEvent](100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(source.run, send)
        with trio.move_on_after(seconds):
            async for event in receive:
                seen.events.append(event)
                if event.state == FeedState.FAILED or (until is not None and until(seen)):
                    break
        nursery.cancel_scope.cancel()
    return source, seen


def assert_series(candles) -> None:
    assert candles, "no candles"
    assert all(b.ts - a.ts == M for a, b in itertools.pairwise(candles))


def exchange_candle(fake, ts: int):
    ((_, o, h, lo, c, v),) = fake.exchange.market.klines("BTCTRY", M, ts, ts, until_ms=ts + M)
    return (float(o), float(h), float(lo), float(c), float(v))


async def test_normal_stream_sends_each_closed_candle_once_as_the_exchange_has_it(fake) -> None:
    source, seen = await feed(fake, 6, until=lambda r: len(r.candles) >= 3)
    assert seen.states[:2] == [FeedState.CONNECTING, FeedState.CONNECTED]
    assert_series(seen.candles)
    assert not any(c.filled for c in seen.candles)
    for candle in seen.candles:
        assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == exchange_candle(fake, candle.ts)
    assert source.connections == 1 and source.bad_frames == 0
    metrics = source.metrics
    assert metrics.value("spark_feed_frames_total", {"exchange": "btcturk", "type": "421"}) == 1
    frames = metrics.value("spark_feed_frames_total", {"exchange": "btcturk", "type": "422"})
    assert frames > 10  # a trade every 50 ms over three 0.5 s candles: about 20-30
    assert metrics.value("spark_feed_last_data_age_seconds", {"exchange": "btcturk", "pair": "BTCTRY"}) < 1.0


async def test_candles_built_from_trades_are_reconciled_against_klines(fake, caplog) -> None:
    fake.exchange.default = "drop"  # one trade in three never reaches the socket
    caplog.set_level(logging.WARNING)
    source, _seen = await feed(fake, 8, until=lambda r: len(r.candles) >= 5)
    assert source.mismatches >= 1
    assert (
        source.metrics.value("spark_feed_reconcile_mismatches_total", {"exchange": "btcturk", "pair": "BTCTRY"})
        == source.mismatches
    )
    assert "differs from the exchange's" in caplog.text
    ts = next(iter(source.corrected))
    (fixed,) = [c for c in await source.history(ts, ts + M)]
    assert (fixed.open, fixed.high, fixed.low, fixed.close, fixed.volume) == exchange_candle(fake, ts)


async def test_a_silent_stall_is_stale_and_reconnects(fake) -> None:
    fake.exchange.script.append("stall")
    source, seen = await feed(fake, 5, until=lambda r: FeedState.STALE in r.states and len(r.candles) >= 4)
    assert FeedState.STALE in seen.states
    assert "no data frame for 1 s" in seen.detail(FeedState.STALE)
    assert source.connections >= 2 and fake.exchange.connections >= 2
    assert source.metrics.value("spark_feed_reconnects_total", {"exchange": "btcturk", "pair": "BTCTRY"}) >= 1
    assert_series(seen.candles)


@pytest.mark.parametrize("pair", ["NOPETRY", "btctry"])
async def test_an_unknown_or_lower_case_pair_fails_with_a_clear_message(fake, pair: str) -> None:
    started = trio.current_time()
    source, seen = await feed(fake, 3, pair=pair)
    assert seen.states[-1] == FeedState.FAILED
    message = seen.detail(FeedState.FAILED)
    assert f"no data for {pair} 0.5 s after BTCTurk acked the subscription" in message and "pair name" in message
    assert trio.current_time() - started < 1.5
    assert source.connections == 1


async def test_unanswered_pings_close_1000_and_the_feed_reconnects(fake) -> None:
    fake.exchange.script.append("no_pong")
    source, seen = await feed(fake, 5, until=lambda r: r.states.count(FeedState.CONNECTED) >= 2)
    assert "closed by the exchange (1000 NORMAL_CLOSURE)" in seen.detail(FeedState.REST_FALLBACK)
    assert source.connections == 2


async def test_an_abrupt_close_reconnects(fake) -> None:
    fake.exchange.script.append("abrupt")
    source, seen = await feed(fake, 5, until=lambda r: r.states.count(FeedState.CONNECTED) >= 2)
    assert "closed by the exchange (1006" in seen.detail(FeedState.REST_FALLBACK)
    assert source.connections == 2


async def test_a_refused_subscribe_reconnects(fake) -> None:
    fake.exchange.script.append("duplicate")
    source, seen = await feed(fake, 5, until=lambda r: FeedState.CONNECTED in r.states)
    assert "subscribe refused" in seen.detail(FeedState.REST_FALLBACK) and "'ok': False" in seen.detail(
        FeedState.REST_FALLBACK
    )
    assert source.connections == 2


async def test_bad_frames_are_counted_and_skipped(fake) -> None:
    fake.exchange.default = "garbage"
    source, seen = await feed(fake, 5, until=lambda r: len(r.candles) >= 3)
    assert source.bad_frames >= 8
    assert source.metrics.value("spark_feed_bad_frames_total", {"exchange": "btcturk"}) == source.bad_frames
    assert source.metrics.value("spark_feed_frames_total", {"exchange": "btcturk", "type": "999"}) >= 2
    assert_series(seen.candles)
    for candle in seen.candles:
        assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == exchange_candle(fake, candle.ts)


async def test_reconnects_back_off_and_keep_to_the_connection_budget(fake) -> None:
    fake.exchange.default = "duplicate"  # every subscribe refused: the feed keeps reconnecting
    _source, _ = await feed(
        fake, 2.5, feed_backoff_s=0.05, feed_backoff_max_s=0.4, feed_connects_per_window=4, feed_connect_window_s=1.0
    )
    times = fake.exchange.connected_at
    assert len(times) >= 5
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u - t < 1.0) <= 4  # never more than 4 in any 1 s window
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g >= 0.05 * 0.9 for g in gaps)


async def test_while_the_socket_is_down_candles_come_from_rest(fake) -> None:
    _source, seen = await feed(
        fake, 5, btcturk_ws_url="ws://127.0.0.1:9", until=lambda r: len(r.candles) >= 3
    )  # nothing listens there
    assert FeedState.REST_FALLBACK in seen.states and FeedState.CONNECTED not in seen.states
    assert "cannot connect" in seen.detail(FeedState.REST_FALLBACK)
    assert_series(seen.candles)
    assert not any(c.filled for c in seen.candles)
    for candle in seen.candles:
        assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == exchange_candle(fake, candle.ts)


async def test_a_candle_nobody_can_recover_is_sent_filled(fake) -> None:
    now = fake.exchange.clock.now_ms()
    hole = (now // M + 2) * M
    fake.exchange.market.gap = (hole, hole + M)
    _source, seen = await feed(
        fake, 6, btcturk_ws_url="ws://127.0.0.1:9", until=lambda r: any(c.ts > hole for c in r.candles)
    )
    assert_series(seen.candles)
    (filled,) = [c for c in seen.candles if c.filled]
    before = next(c for c in seen.candles if c.ts == hole - M)
    assert filled.ts == hole
    assert (filled.open, filled.high, filled.low, filled.close, filled.volume) == (before.close,) * 4 + (0.0,)


async def test_after_a_reconnect_the_gap_is_backfilled_from_rest(fake) -> None:
    fake.exchange.script.append("abrupt")
    _source, seen = await feed(
        fake, 6, feed_backoff_s=1.3, until=lambda r: r.states.count(FeedState.CONNECTED) >= 2 and len(r.candles) >= 6
    )  # the backoff spans more than two 1m candles (0.5 s each)
    assert FeedState.REST_FALLBACK in seen.states
    assert_series(seen.candles)
    assert not any(c.filled for c in seen.candles)
    for candle in seen.candles:
        assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == exchange_candle(fake, candle.ts)


async def test_opening_checks_the_pair_and_the_timeframe(fake) -> None:
    source = await open_btcturk_source(fake.settings, "btc_try", "1m")
    assert source.pair == "BTCTRY"
    with pytest.raises(InputError, match="no pair 'NOPETRY'"):
        await open_btcturk_source(fake.settings, "NOPETRY", "1m")
    with pytest.raises(ParamError, match="no '2m' candles"):
        await open_btcturk_source(fake.settings, "BTCTRY", "2m")


async def test_the_live_sessions_open_btcturk_by_name(fake) -> None:
    from spark.market.sources import open_source

    metrics = Metrics()
    opened = await open_source(fake.settings, "btcturk", "btc_try", "1m", metrics=metrics)
    assert opened.source.pair == "BTCTRY" and opened.state == {}
    assert abs(opened.now_ms() - __import__("time").time() * 1000) < 1000  # the wall clock
    send, receive = trio.open_memory_channel[FeedEvent](10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(opened.source.run, send)
        with trio.fail_after(3):
            async for event in receive:
                if event.state == FeedState.CONNECTED:
                    break
        assert metrics.value("spark_feed_connected", {"exchange": "btcturk", "pair": "BTCTRY"}) == 1
        nursery.cancel_scope.cancel()
    assert metrics.value("spark_feed_connected", {"exchange": "btcturk", "pair": "BTCTRY"}) == 0
    with pytest.raises(InputError, match="no pair") as caught:
        await open_source(fake.settings, "btcturk", "NOPETRY", "1m")
    assert caught.value.field == "pair"
    with pytest.raises(InputError, match="no '2h' candles") as caught:
        await open_source(fake.settings, "btcturk", "BTCTRY", "2h")
    assert caught.value.field == "timeframe"
