"""A paper session on the BTCTurk feed against the fake exchange (real sockets, market clock 120x): the exchange's
reconciled candles win in the session's series and in its evidence, and a backtest over the recorded candles still
reproduces every fill and trade the session made."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import trio

import spark
from spark.engine.options import Options
from spark.market import session_store as files
from spark.market.btcturk import BtcturkCandleSource
from spark.market.paper import candles_of
from spark.market.session import LiveSession, recorded_detail
from spark.market.sources import OpenedSource
from spark.metrics import Metrics
from spark.plugin.manager import build_plugins, scan_plugins

M = 60_000
SID = "lv-1700000000000-00c0ffee"
PARAMS = {"fast": 2, "slow": 4}


def exchange_candle(fake, ts: int) -> list[float]:
    ((_, o, h, lo, c, v),) = fake.exchange.market.klines("BTCTRY", M, ts, ts, until_ms=ts + M)
    return [float(o), float(h), float(lo), float(c), float(v)]


def row(candle) -> list[float]:
    return [candle.open, candle.high, candle.low, candle.close, candle.volume]


def session(fake, doc, spec, folder: Path, publish, metrics: Metrics | None = None):
    """A paper session on the fake's BTCTRY 1m feed (its market clock), recording into ``folder``; and its source."""
    source = BtcturkCandleSource(fake.client_settings(), "BTCTRY", "1m", clock=fake.exchange.clock)
    opened = OpenedSource(source=source, now_ms=source.clock.now_ms, state={})
    live = LiveSession(
        doc, spec=spec, options=Options(), opened=opened, evidence_dir=folder, publish=publish, max_bars=10_000,
        now_ms=lambda: 1_700_000_000_000, metrics=metrics,
    )  # fmt: skip
    return live, source


async def test_the_exchanges_candle_wins_in_a_running_session(fake, tmp_path: Path) -> None:
    fake.exchange.default = "drop"  # one trade in three never reaches the socket: our candles differ from klines
    doc = {
        "id": SID, "status": "running", "exchange": "btcturk", "pair": "BTCTRY", "timeframe": "1m",
        "strategy": "sma_cross", "params": PARAMS, "options": {}, "warmupBars": 4, "feed": None,
    }  # fmt: skip
    files.create_session(tmp_path, doc)
    events: list[dict[str, Any]] = []
    enough = trio.Event()

    async def publish(event: dict[str, Any]) -> None:
        events.append(event)
        if sum(event["session"]["corrections"].values()) >= 4:
            enough.set()

    spec = build_plugins(scan_plugins()).strategy("sma_cross")
    metrics = Metrics()
    live, source = session(fake, doc, spec, tmp_path, publish, metrics)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(live.run, resume=False))
        with trio.fail_after(20):
            await enough.wait()
        nursery.cancel_scope.cancel()

    records = files.read_corrections(tmp_path, SID)
    assert records == [e["correction"] for e in events if "correction" in e]
    assert len(records) >= 4 and source.mismatches >= len(records)
    assert live.summary()["corrections"] == live.corrections
    for outcome, count in live.corrections.items():  # spark_live_corrections_total{outcome}
        assert metrics.value("spark_live_corrections_total", {"outcome": outcome}) == count
    assert live.corrections["applied"] == sum(1 for r in records if r["applied"]) >= 1
    recorded = files.read_candles(tmp_path, SID)
    by_ts = {c.ts: c for c in recorded}
    for r in records:
        assert r["exchange"] == exchange_candle(fake, r["ts"]) != r["ours"]
        # applied: the exchange's candle is the session's, on disk and in its book; kept: ours stays (a fill on it)
        assert row(by_ts[r["ts"]]) == (r["exchange"] if r["applied"] else r["ours"])
        assert "cannot be undone" in r["reason"] if not r["applied"] else r["reason"] is None
    assert recorded == live.book.rows  # the series on disk is the one in memory
    result = spark.run_backtest(candles_of(recorded), strategy="sma_cross", params=PARAMS)
    assert files.read_fills(tmp_path, SID) == [f.to_json() for f in result.report.fills]
    published = {t["id"]: t for e in events for t in e["trades"]}
    closed = [t.to_json() for t in result.report.trades if not t.open]
    assert [published[t["id"]] for t in closed] == closed
    assert recorded_detail(doc, spec, Options(), tmp_path, 10)["session"]["corrections"] == live.corrections

    # resumed after a restart: the record's series re-run as it is, the corrections counted from their file
    again: list[dict[str, Any]] = []
    published = trio.Event()

    async def publish_again(event: dict[str, Any]) -> None:
        again.append(event)
        published.set()

    resumed, _ = session(fake, doc, spec, tmp_path, publish_again)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(resumed.run, resume=True))
        with trio.fail_after(10):
            await published.wait()
        nursery.cancel_scope.cancel()
    assert again[0]["session"]["corrections"] == live.corrections
    assert resumed.book.rows[: len(recorded)] == recorded
