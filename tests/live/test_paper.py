"""A paper book equals a backtest of the same candles: fills, trades and equity, step by step."""

from __future__ import annotations

from pathlib import Path

import pytest

import spark
from spark.engine.options import Options
from spark.engine.strategy import StrategySpec
from spark.errors import StrategyError
from spark.market.paper import PaperBook, SeriesFull, candles_of, default_warmup
from spark.market.replay import read_candle_rows
from spark.plugin.manager import build_plugins, scan_plugins

from .livekit import wave

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def plugins():
    return build_plugins(scan_plugins())


def drive(book: PaperBook, rows, warmup: int):
    """Warm up on the first ``warmup`` rows, then one step per candle; what a session would have published."""
    steps = [book.step(rows[:warmup])] if warmup else []
    steps += [book.step([c]) for c in rows[warmup:]]
    fills, trades, equity = [], {}, []
    for step in steps:
        fills += step.fills
        trades.update({t["id"]: t for t in step.trades})
        equity += [e for _, e in step.equity]
    return steps, fills, [trades[k] for k in sorted(trades)], equity


@pytest.mark.parametrize(
    ("strategy", "params", "options"),
    [
        ("sma_cross", {"fast": 5, "slow": 12}, Options()),
        ("sma_cross", {"fast": 5, "slow": 12}, Options(fill="close", fee=0.001, size_pct=0.5)),
        ("rsi_reversion", {"period": 7}, Options(fee=0.002, slippage_bps=5)),
        ("bollinger_breakout", {"period": 10, "k": 1.0}, Options()),
    ],
)
def test_a_session_equals_a_backtest_of_its_candles(plugins, strategy, params, options) -> None:
    rows = wave(400)
    spec = plugins.strategy(strategy)
    book = PaperBook(spec, params, options, symbol="WAVE", timeframe="1m")
    steps, fills, trades, equity = drive(book, rows, default_warmup(spec, book.params))
    result = spark.run_backtest(
        candles_of(rows, symbol="WAVE", timeframe="1m"),
        strategy=strategy,
        params=params,
        **{k: v for k, v in options.to_json().items()},
    )
    assert len(result.report.trades) >= 5  # the wave trades: the comparison means something
    assert fills == [f.to_json() for f in result.report.fills]
    assert trades == [t.to_json() for t in result.report.trades]
    assert equity == result.report.equity.tolist()
    assert steps[-1].stats == result.summary()
    assert book.result.metadata["fingerprint"] == result.metadata["fingerprint"]  # the same candles, bit for bit


def test_on_real_minute_candles_with_gaps(plugins) -> None:
    rows = read_candle_rows(DATA / "UNITTEST_BTC-1m.csv")[:2000]
    book = PaperBook(plugins.strategy("sma_cross"), {"fast": 10, "slow": 30}, Options(), symbol="BTC", timeframe="1m")
    _, fills, trades, _ = drive(book, rows, 30)
    result = spark.run_backtest(candles_of(rows), strategy="sma_cross", params={"fast": 10, "slow": 30})
    assert len(trades) > 20
    assert fills == [f.to_json() for f in result.report.fills]
    assert trades == [t.to_json() for t in result.report.trades]


def test_next_open_fills_at_the_following_candle(plugins) -> None:
    rows = wave(200)
    book = PaperBook(plugins.strategy("sma_cross"), {"fast": 5, "slow": 12}, Options(), symbol="W", timeframe="1m")
    book.step(rows[:12])
    for candle in rows[12:]:
        step = book.step([candle])
        for fill in step.fills:  # a fill happens at the open of the candle just closed, decided one candle before
            assert fill["ts"] == candle.ts and fill["price"] == candle.open


def test_duplicates_are_skipped_and_the_warmup_does_not_trade(plugins) -> None:
    rows = wave(100)
    spec = plugins.strategy("sma_cross")
    book = PaperBook(spec, {"fast": 5, "slow": 12}, Options(), symbol="W", timeframe="1m")
    assert default_warmup(spec, book.params) == 12
    first = book.step(rows[:12])
    assert first.fills == () and first.trades == () and len(first.equity) == 12
    assert book.step(rows[:12]) is None
    assert book.step([rows[5]]) is None
    assert len(book) == 12


def test_the_series_is_bounded(plugins) -> None:
    rows = wave(30)
    book = PaperBook(plugins.strategy("sma_cross"), {}, Options(), symbol="W", timeframe="1m", max_bars=20)
    book.step(rows[:20])
    with pytest.raises(SeriesFull):
        book.step([rows[20]])
    assert len(book) == 20


def peeking(params, ctx):
    """Buys at bar t when the close two bars later is higher: looks ahead."""
    close = ctx.candles.close
    up = close.copy() * 0 > 1
    up[:-2] = close[2:] > close[:-2]
    ctx.signals(up, ~up)


def test_a_strategy_that_rewrites_its_past_fails(plugins) -> None:
    spec = StrategySpec(name="peeking", fn=peeking, version="1", help="looks ahead", params=())
    book = PaperBook(spec, {}, Options(), symbol="W", timeframe="1m")
    rows = wave(200)
    book.step(rows[:5])
    with pytest.raises(StrategyError, match="looks ahead"):
        for candle in rows[5:]:
            book.step([candle])
