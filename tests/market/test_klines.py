"""Klines parsing and validation, and the rate limiter, without sockets (the limiter under autojump_clock)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from spark.errors import DataError
from spark.market.klines import Kline, find_gaps, loads_exact, parse_klines, validate_klines
from spark.market.ratelimit import RateLimiter

M = 60_000


def k(ts: int, o: str = "10", h: str = "12", lo: str = "9", c: str = "11", v: str = "1") -> Kline:
    return Kline(ts, Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v))


def test_parse_keeps_exact_decimals_and_converts_seconds() -> None:
    doc = loads_exact('{"s":"ok","t":[1661990400],"o":[0.1],"h":[0.30000000000000004],"l":[0.1],"c":["0.2"],"v":[7]}')
    (candle,) = parse_klines(doc)
    assert candle.ts == 1_661_990_400_000
    assert candle.csv_row() == "1661990400000,0.1,0.30000000000000004,0.1,0.2,7"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"s": "error", "errmsg": "bad symbol"}, "status 'error': bad symbol"),
        ({"s": "ok", "t": [1], "o": [1], "h": [1], "l": [1], "c": [1]}, "must all be lists"),
        ({"s": "ok", "t": [1, 2], "o": [1], "h": [1], "l": [1], "c": [1], "v": [1]}, "differ in length"),
        ({"s": "ok", "t": [1], "o": ["x"], "h": [1], "l": [1], "c": [1], "v": [1]}, "not a decimal"),
        ({"s": "ok", "t": [1.5], "o": [1], "h": [1], "l": [1], "c": [1], "v": [1]}, "not whole seconds"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_parse_refuses_malformed_answers(doc: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_klines(loads_exact(__import__("json").dumps(doc)) if not isinstance(doc, list) else doc)


def test_no_data_is_empty() -> None:
    assert parse_klines({"s": "no_data"}) == []


def test_validation_names_the_first_bad_candle() -> None:
    validate_klines([k(0), k(M), k(3 * M)], M)  # a gap is allowed
    with pytest.raises(DataError, match="candle at 60000: not after"):
        validate_klines([k(M), k(M)], M)
    with pytest.raises(DataError, match="candle at 0: not after"):
        validate_klines([k(M), k(0)], M)
    with pytest.raises(DataError, match="not on the 60000 ms grid"):
        validate_klines([k(0), k(M + 5)], M)
    with pytest.raises(DataError, match="OHLC inconsistent"):
        validate_klines([k(0, h="10.5")], M)
    with pytest.raises(DataError, match="OHLC inconsistent"):
        validate_klines([k(0, lo="10.5")], M)
    with pytest.raises(DataError, match="negative"):
        validate_klines([k(0, v="-1")], M)


def test_gaps_are_found() -> None:
    assert find_gaps([0, M, 4 * M, 5 * M, 7 * M], M) == [(2 * M, 2), (6 * M, 1)]
    assert find_gaps([], M) == []


async def test_rate_limiter_holds_the_window(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(3, 10.0)
    times = []
    for _ in range(7):
        await limiter.acquire()
        times.append(trio.current_time())
    start = times[0]
    assert [round(t - start, 6) for t in times] == [0, 0, 0, 10, 10, 10, 20]


async def test_rate_limiter_block_delays_every_caller(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(100, 10.0)
    start = trio.current_time()
    limiter.block_for(55.0)
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(55.0)
