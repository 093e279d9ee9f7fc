"""A fake BTCTurk per test on 127.0.0.1:0 (real sockets, real clock), its timings scaled down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trio

from spark.config import Settings, load_settings
from spark.market.clock import MarketClock
from spark.market.fake import FakeExchange, FakeUrls, run_fake_exchange

FAST = {
    "fake_trade_interval_s": 0.05,
    "fake_ping_interval_s": 0.2,
    "fake_no_pong_close_s": 0.6,
    "fake_stall_after_s": 0.4,
    "market_rest_backoff_s": 0.05,
    "market_rest_backoff_max_s": 0.2,
    "feed_stale_s": 0.5,
    "feed_first_data_s": 0.5,
    "feed_backoff_s": 0.1,
    "feed_backoff_max_s": 0.3,
    "feed_connect_timeout_s": 2.0,
    "feed_poll_s": 0.1,
    "feed_reconcile_grace_s": 0.05,
    "feed_close_grace_ms": 300,
}


@dataclass
class Fake:
    exchange: FakeExchange
    urls: FakeUrls
    settings: Settings  # a client's settings, pointed at the fake

    def client_settings(self, **overrides: object) -> Settings:
        return load_settings(env=self.urls.env(), toml_path=None, **{**FAST, **overrides})


@pytest.fixture
async def fake(nursery: trio.Nursery) -> AsyncIterator[Fake]:
    """The exchange on a market clock 60x real time: a 1m candle closes every second."""
    exchange = FakeExchange(load_settings(env={}, toml_path=None, **FAST), clock=MarketClock(speed=60.0))
    urls = await nursery.start(run_fake_exchange, exchange)
    made = Fake(exchange, urls, load_settings(env={}, toml_path=None))
    made.settings = made.client_settings()
    yield made
