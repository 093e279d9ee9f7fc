"""The exchange's corrections of candles already in a paper book: applied when no fill already made changes (later
decisions see the exchange's candle), kept otherwise; either way a backtest over the book's series reproduces every
fill the book made."""

from __future__ import annotations

import dataclasses

import pytest

import spark
from spark.engine.options import Options
from spark.market.paper import PaperBook, candles_of
from spark.market.source import LiveCandle
from spark.plugin.manager import build_plugins, scan_plugins

from .livekit import wave

PARAMS = {"fast": 5, "slow": 12}


@pytest.fixture(scope="module")
def plugins():
    return build_plugins(scan_plugins())


def fills_of(rows: list[LiveCandle]) -> list[dict]:
    result = spark.run_backtest(candles_of(rows), strategy="sma_cross", params=PARAMS)
    return [f.to_json() for f in result.report.fills]


def book_until(plugins, rows: list[LiveCandle], last: int) -> tuple[PaperBook, list[dict]]:
    """A book warmed up on 12 rows, then stepped one candle at a time through row ``last``; the fills it made."""
    book = PaperBook(plugins.strategy("sma_cross"), PARAMS, Options(), symbol="WAVE", timeframe="1m")
    made = list(book.step(rows[:12]).fills)
    for candle in rows[12 : last + 1]:
        made += book.step([candle]).fills
    return book, made


def finish(book: PaperBook, rows: list[LiveCandle], made: list[dict], after: int) -> list[dict]:
    for candle in rows[after + 1 :]:
        made += book.step([candle]).fills
    return made


def test_a_correction_that_changes_no_fill_takes_the_candles_place(plugins) -> None:
    rows = wave(200)
    k = 60
    book, made = book_until(plugins, rows, k)
    theirs = dataclasses.replace(rows[k], volume=rows[k].volume + 5.0)  # the trades we missed: more volume
    fixed = book.correct(theirs)
    assert fixed is not None and fixed.applied and fixed.reason is None
    assert (fixed.ours, fixed.exchange) == (rows[k], theirs)
    assert book.rows[k] == theirs
    assert book.correct(theirs) is None  # the series has it already
    assert book.correct(dataclasses.replace(theirs, ts=theirs.ts + 30_000)) is None  # no candle at that ts
    made = finish(book, rows, made, k)
    series = [*rows[:k], theirs, *rows[k + 1 :]]
    assert book.rows == series
    assert made == fills_of(series)  # the record reproduces every fill


def test_later_decisions_see_the_exchanges_candle(plugins) -> None:
    rows = wave(200)
    original = fills_of(rows)
    filled_at = {f["ts"] for f in original}
    for k in range(30, 180):  # a candle whose close, as the exchange has it, turns the strategy
        if rows[k].ts in filled_at or rows[k + 1].ts in filled_at:
            continue
        close = rows[k].close - 40.0
        theirs = dataclasses.replace(rows[k], close=close, low=min(rows[k].low, close))
        series = [*rows[:k], theirs, *rows[k + 1 :]]
        if fills_of(series) != original:
            break
    else:
        raise AssertionError("no candle whose correction changes the later decisions")
    book, made = book_until(plugins, rows, k)
    fixed = book.correct(theirs)
    assert fixed is not None and fixed.applied  # decided at its close, the order fills at the next open: not yet
    made = finish(book, rows, made, k)
    assert made == fills_of(series) != original


def test_a_correction_that_would_change_a_fill_already_made_is_kept(plugins) -> None:
    rows = wave(200)
    k = next(i for i, c in enumerate(rows) if i > 20 and c.ts in {f["ts"] for f in fills_of(rows)})
    book, made = book_until(plugins, rows, k)  # the fill at candle k's open is made
    opened = rows[k].open + 1.0
    theirs = dataclasses.replace(rows[k], open=opened, high=max(rows[k].high, opened))
    fixed = book.correct(theirs)
    assert fixed is not None and not fixed.applied
    assert f"on the candle at {rows[k].ts}" in fixed.reason and "cannot be undone" in fixed.reason
    assert book.rows[k] == rows[k]  # the series stays the one the fills came from
    made = finish(book, rows, made, k)
    assert made == fills_of(rows)
