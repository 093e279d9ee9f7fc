"""The replay exchange: history never shows the future, run plays the file on its clock, bad input is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from spark.config import Settings
from spark.errors import DataError, InputError
from spark.market.replay import ReplayCandleSource, interval_ms, read_candle_rows
from spark.market.source import FeedEvent, FeedState
from spark.market.sources import open_source

from .livekit import T0, wave, write_csv

MIN = 60_000


def test_interval_of_timeframes() -> None:
    assert interval_ms("1m") == MIN
    assert interval_ms("4h") == 4 * 3_600_000
    assert interval_ms("1d") == 86_400_000
    with pytest.raises(InputError) as info:
        interval_ms("fortnight")
    assert info.value.field == "timeframe"


def test_rows_round_trip(tmp_path: Path) -> None:
    rows = wave(50)
    assert read_candle_rows(write_csv(tmp_path / "X-1m.csv", rows)) == rows


def test_bad_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close\n2020-01-01,1,1,1,1\n")
    with pytest.raises(DataError, match="header"):
        read_candle_rows(bad)
    bad.write_text("timestamp,open,high,low,close,volume\n2,1,1,1,1,1\n1,1,1,1,1,1\n")
    with pytest.raises(DataError, match="strictly increasing"):
        read_candle_rows(bad)
    with pytest.raises(DataError, match="cannot read"):
        read_candle_rows(tmp_path / "missing.csv")


async def test_history_stops_at_the_replay_clock(autojump_clock: trio.abc.Clock) -> None:
    rows = wave(100)
    source = ReplayCandleSource(
        rows, pair="X", timeframe="1m", speed=60.0, start_ms=T0 + 10 * MIN, clock=trio.current_time
    )
    assert source.now_ms() == T0 + 10 * MIN
    got = await source.history(0, T0 + 1000 * MIN)
    assert got == rows[:10]  # candles 0..9 have closed; candle 10 opens now
    assert await source.history(T0 + 3 * MIN, T0 + 5 * MIN) == rows[3:5]
    await trio.sleep(2.0)  # two data minutes at speed 60
    assert await source.history(T0, T0 + 1000 * MIN) == rows[:12]


async def test_run_plays_one_candle_per_interval_over_speed(autojump_clock: trio.abc.Clock) -> None:
    rows = wave(20)
    source = ReplayCandleSource(
        rows, pair="X", timeframe="1m", speed=120.0, start_ms=T0 + 15 * MIN, clock=trio.current_time
    )
    send, receive = trio.open_memory_channel[FeedEvent](100)
    t0 = trio.current_time()
    seen: list[tuple[float, FeedEvent]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(source.run, send)
        async for event in receive:
            seen.append((trio.current_time() - t0, event))
            if event.state is FeedState.CLOSED:
                break
    assert seen[0][1].state is FeedState.CONNECTED
    candles = [(t, e.candle) for t, e in seen if e.candle is not None]
    assert [c for _, c in candles] == rows[15:]
    # candle 15 closes at data time T0 + 16 min: half a second later at speed 120
    assert [round(t, 3) for t, _ in candles] == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert seen[-1][1].state is FeedState.CLOSED


async def test_open_source_by_exchange_name(tmp_path: Path) -> None:
    write_csv(tmp_path / "BTCTRY-1m.csv", wave(300))
    settings = Settings(data_dir=tmp_path, replay_lead_bars=100, replay_speed=30.0)
    opened = await open_source(settings, "replay", "BTCTRY", "1m")
    assert opened.source.exchange == "replay" and opened.source.pair == "BTCTRY"
    assert opened.state["startMs"] == T0 + 100 * MIN and opened.state["speed"] == 30.0
    assert len(await opened.source.history(0, 2**62)) == 100
    again = await open_source(settings, "replay", "BTCTRY", "1m", state=opened.state)
    assert abs(again.now_ms() - opened.now_ms()) < 5_000  # the same clock, reopened


@pytest.mark.parametrize(
    ("exchange", "pair", "timeframe", "field"),
    [
        ("nasdaq", "BTCTRY", "1m", "exchange"),
        ("replay", "ETHTRY", "1m", "pair"),  # no file for it
        ("replay", "../etc", "1m", "pair"),
        ("replay", "BTCTRY", "7x", "timeframe"),
        ("replay", "BTCTRY", "5m", "pair"),  # no file for that timeframe
    ],
)
async def test_open_source_refuses_bad_input(
    tmp_path: Path, exchange: str, pair: str, timeframe: str, field: str
) -> None:
    write_csv(tmp_path / "BTCTRY-1m.csv", wave(30))
    with pytest.raises(InputError) as info:
        await open_source(Settings(data_dir=tmp_path), exchange, pair, timeframe)
    assert info.value.field == field
