"""The BTCTurk REST client against the fake exchange: paging, limits, Retry-After, retries, no_data, exact decimals."""

from __future__ import annotations

import pytest
import trio

from spark.errors import InputError, ParamError, Unavailable
from spark.market.rest import BtcturkRest, backoff_s

H = 3_600_000
JAN_2024 = 1_704_067_200_000


async def test_history_pages_and_converts_seconds_to_ms(fake) -> None:
    settings = fake.client_settings(market_klines_page=100)
    pages = []
    async with BtcturkRest(settings) as rest:
        candles = await rest.history(
            "BTCTRY", "1h", JAN_2024, JAN_2024 + 250 * H, on_page=lambda done, total: pages.append((done, total))
        )
    assert [k.ts for k in candles] == [JAN_2024 + i * H for i in range(250)]
    assert pages == [(100 * H, 250 * H), (200 * H, 250 * H), (250 * H, 250 * H)]
    asked = [p for p in fake.exchange.requests if p == "/v1/klines/history"]
    assert len(asked) == 3


async def test_decimals_are_kept_digit_for_digit(fake) -> None:
    async with BtcturkRest(fake.settings) as rest:
        (candle,) = await rest.history("BTCTRY", "1h", JAN_2024, JAN_2024 + H)
    row = fake.exchange.market.klines("BTCTRY", H, JAN_2024, JAN_2024, until_ms=JAN_2024 + H)[0]
    assert candle.csv_row() == ",".join([str(JAN_2024), *(format(x, "f") for x in row[1:])])


async def test_no_data_is_an_empty_range(fake) -> None:
    fake.exchange.rest_faults.append("no_data")
    async with BtcturkRest(fake.settings) as rest:
        assert await rest.klines("BTCTRY", "1h", JAN_2024, JAN_2024 + 10 * H) == []
        assert len(await rest.klines("BTCTRY", "1h", JAN_2024, JAN_2024 + 10 * H)) == 10


async def test_429_waits_retry_after_then_succeeds(fake) -> None:
    fake.exchange.retry_after_s = 1
    fake.exchange.rest_faults.append("429")
    async with BtcturkRest(fake.settings) as rest:
        started = trio.current_time()
        found = await rest.klines("BTCTRY", "1h", JAN_2024, JAN_2024 + 3 * H)
        waited = trio.current_time() - started
    assert len(found) == 3
    assert 1.0 <= waited < 2.0
    assert rest.requests == 2


async def test_429_longer_than_allowed_fails_at_once(fake) -> None:
    fake.exchange.retry_after_s = 120
    fake.exchange.rest_faults.append("429")
    async with BtcturkRest(fake.client_settings(market_retry_after_max_s=30)) as rest:
        with pytest.raises(Unavailable, match="429, Retry-After 120"):
            await rest.klines("BTCTRY", "1h", JAN_2024, JAN_2024 + 3 * H)


async def test_5xx_is_retried_with_backoff(fake) -> None:
    fake.exchange.rest_faults.extend(["503", "503"])
    async with BtcturkRest(fake.settings) as rest:
        assert len(await rest.klines("BTCTRY", "1h", JAN_2024, JAN_2024 + 3 * H)) == 3
    assert rest.requests == 3


async def test_5xx_that_persists_is_unavailable(fake) -> None:
    fake.exchange.rest_faults.extend(["503"] * 10)
    async with BtcturkRest(fake.client_settings(market_rest_retries=2)) as rest:
        with pytest.raises(Unavailable, match="503 .after 3 attempts"):
            await rest.klines("BTCTRY", "1h", JAN_2024, JAN_2024 + 3 * H)
    assert rest.requests == 3


async def test_unknown_pair_and_timeframe(fake) -> None:
    async with BtcturkRest(fake.settings) as rest:
        assert await rest.check_pair("btc_try") == "BTCTRY"
        with pytest.raises(InputError, match="no pair 'NOPEUSDT'") as caught:
            await rest.check_pair("NOPEUSDT")
        assert caught.value.field == "pair"
        with pytest.raises(InputError, match="does not exists"):
            await rest.trades("NOPEUSDT")
        with pytest.raises(ParamError, match="no '2h' candles"):
            await rest.klines("BTCTRY", "2h", JAN_2024, JAN_2024 + H)


async def test_recent_trades_are_exact_and_oldest_first(fake) -> None:
    await trio.sleep(12 * fake.exchange.settings.fake_trade_interval_s)  # a dozen trades made
    async with BtcturkRest(fake.settings) as rest:
        trades = await rest.trades("BTCTRY", 10)
    assert len(trades) == 10
    assert [t.ts for t in trades] == sorted(t.ts for t in trades)
    book = {t.tid: t for t in fake.exchange.market.trades["BTCTRY"]}
    assert all(book[t.tid].price == t.price and book[t.tid].amount == t.amount for t in trades)


def test_backoff_is_jittered_exponential_capped_and_never_below_the_first() -> None:
    import random

    rng = random.Random(1)
    waits = [[backoff_s(attempt, 4.0, 30.0, rng) for attempt in range(8)] for _ in range(50)]
    assert all(w[0] == 4.0 for w in waits)
    assert all(4.0 <= x <= 30.0 for w in waits for x in w)
    assert all(15.0 <= w[7] <= 30.0 for w in waits)  # the cap, jittered below it
    assert len({w[2] for w in waits}) > 10  # jittered
    assert all(8.0 <= w[2] <= 16.0 for w in waits)
