"""A live session over the replay exchange: warm-up, a step per candle, evidence on disk, the end of the feed, and a
resume after a crash that catches up from history; a backtest over the recorded candles reproduces its trades."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

import spark
from spark.engine.options import Options
from spark.market import session_store as files
from spark.market.paper import candles_of
from spark.market.replay import ReplayCandleSource
from spark.market.session import LiveSession
from spark.market.sources import OpenedSource
from spark.plugin.manager import build_plugins, scan_plugins

from .livekit import T0, wave

MIN = 60_000
SID = "lv-1700000000000-0123abcd"


@pytest.fixture(scope="module")
def plugins():
    return build_plugins(scan_plugins())


def replay(rows, *, start_row: int = 100, anchor: float | None = None, speed: float = 600.0) -> OpenedSource:
    source = ReplayCandleSource(
        rows, pair="WAVE", timeframe="1m", speed=speed, start_ms=rows[start_row].ts, anchor_s=anchor,
        clock=trio.current_time,
    )  # fmt: skip
    return OpenedSource(source=source, now_ms=source.now_ms, state={"anchorS": source.anchor_s})


def new_doc(**extra: Any) -> dict[str, Any]:
    return {
        "id": SID, "status": "running", "exchange": "replay", "pair": "WAVE", "timeframe": "1m",
        "strategy": "sma_cross", "params": {"fast": 5, "slow": 12}, "options": {}, "warmupBars": 12,
        "startedAt": T0, "stoppedAt": None, "error": None, "feed": None, **extra,
    }  # fmt: skip


def session(plugins, evidence: Path, opened: OpenedSource, events: list, doc=None) -> LiveSession:
    async def publish(event: dict[str, Any]) -> None:
        events.append(event)

    doc = doc or new_doc()
    return LiveSession(
        doc, spec=plugins.strategy("sma_cross"), options=Options(), opened=opened, evidence_dir=evidence,
        publish=publish, max_bars=10_000, now_ms=lambda: T0,
    )  # fmt: skip


def backtest_of_record(evidence: Path):
    recorded = files.read_candles(evidence, SID)
    return recorded, spark.run_backtest(candles_of(recorded), strategy="sma_cross", params={"fast": 5, "slow": 12})


async def test_a_session_runs_to_the_end_of_the_feed(plugins, tmp_path: Path, autojump_clock) -> None:
    rows = wave(300)
    files.create_session(tmp_path, new_doc())
    events: list[dict] = []
    live = session(plugins, tmp_path, replay(rows), events)
    await live.run(resume=False)
    doc = files.read_doc(tmp_path, SID)
    assert doc["status"] == "stopped" and "end of its file" in doc["error"]
    recorded, result = backtest_of_record(tmp_path)
    assert recorded == rows[88:300]  # 12 warm-up candles before the clock's start, then every later row once
    assert files.read_fills(tmp_path, SID) == [f.to_json() for f in result.report.fills]
    assert len(result.report.trades) >= 5
    published = {t["id"]: t for e in events for t in e["trades"]}
    assert [published[k] for k in sorted(published)] == [t.to_json() for t in result.report.trades]
    assert events[0]["session"]["bars"] == 12 and len(events[0]["candles"]) == 12  # the warm-up, in one event
    states = [e["session"]["feed"]["state"] for e in events if e["session"]["feed"]]
    assert states[0] == "connected" and states[-1] == "closed"
    assert events[-1]["session"]["status"] == "stopped"
    detail = live.detail()
    assert detail["trades"] == [t.to_json() for t in result.report.trades] and len(detail["candles"]) == 212


async def test_a_resumed_session_catches_up_and_loses_nothing(plugins, tmp_path: Path) -> None:
    # the real clock (a deadline with worker threads): speed 3000, a candle every 20 ms
    rows = wave(300)
    files.create_session(tmp_path, new_doc())
    first = replay(rows, speed=3000.0)
    with trio.move_on_after(1.2):  # ~60 data minutes: the service stops (a shutdown, a crash)
        await session(plugins, tmp_path, first, []).run(resume=False)
    assert files.read_doc(tmp_path, SID)["status"] == "running"  # a cancelled session records nothing
    before = files.read_candles(tmp_path, SID)
    assert 30 < len(before) < 200
    fills = (tmp_path / "live" / SID / "fills.jsonl").read_text()
    lines = fills.splitlines(keepends=True)
    assert len(lines) >= 2
    # the crash came between a step's candles and its fills, in the middle of writing the last fill
    (tmp_path / "live" / SID / "fills.jsonl").write_text("".join(lines[:-1]) + lines[-1][:10])
    await trio.sleep(1.0)  # down for 50 data minutes: candles closed meanwhile come from history
    events: list[dict] = []
    again = replay(rows, anchor=first.source.anchor_s, speed=3000.0)
    await session(plugins, tmp_path, again, events, doc=files.read_doc(tmp_path, SID)).run(resume=True)
    recorded, result = backtest_of_record(tmp_path)
    assert recorded == rows[88:300]  # no gap, no duplicate
    assert files.read_fills(tmp_path, SID) == [f.to_json() for f in result.report.fills]
    caught_up = events[0]
    assert caught_up["candles"][0][0] == before[-1].ts + MIN and len(caught_up["candles"]) >= 30
    assert files.read_doc(tmp_path, SID)["status"] == "stopped"


async def test_a_strategy_failure_fails_the_session(tmp_path: Path, autojump_clock) -> None:
    def broken(params, ctx):
        if len(ctx.candles) > 20:
            raise RuntimeError("boom")
        ctx.signals(ctx.candles.close > 1e9, ctx.candles.close > 1e9)

    spec = spark.StrategySpec(name="broken", fn=broken, version="1", help="", params=())
    files.create_session(tmp_path, new_doc(strategy="broken", params={}))
    events: list = []

    async def publish(event):
        events.append(event)

    live = LiveSession(
        new_doc(strategy="broken", params={}), spec=spec, options=Options(), opened=replay(wave(200)),
        evidence_dir=tmp_path, publish=publish, max_bars=1000, now_ms=lambda: T0,
    )  # fmt: skip
    await live.run(resume=False)
    doc = json.loads((tmp_path / "live" / SID / "session.json").read_text())
    assert doc["status"] == "failed" and "boom" in doc["error"]
    assert events[-1]["session"]["status"] == "failed"
