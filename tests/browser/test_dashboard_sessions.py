"""The Live view (#/live, #/live/<id>): the sessions list with each feed's badge, a session page whose price
candles build in real time with a marker per fill and its equity line, Stop disabled without a token (saying why)
and working with one; an unknown session is said, not drawn."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spark.service.changes import ParamSet, canonical_hash

from .conftest import Console, Server, make_server, screenshot
from .helpers import open_dashboard, pane_pixels, store_token

PARAMS = {"fast": 5, "slow": 12}


def plant_feed_and_active_set(tmp: Path) -> None:
    rows, prev = ["timestamp,open,high,low,close,volume"], 100.0
    for i in range(600):
        close = 100 + 10 * math.sin(2 * math.pi * i / 40) + 0.01 * i
        high, low = max(prev, close) + 0.5, min(prev, close) - 0.5
        rows.append(f"{1_700_000_000_000 + 60_000 * i},{prev!r},{high!r},{low!r},{close!r},1.0")
        prev = close
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    (tmp / "data" / "BTCTRY-1m.csv").write_text("\n".join(rows) + "\n")
    active = ParamSet(
        strategy="sma_cross", pair="BTCTRY", timeframe="1m", version=1, params=PARAMS,
        params_sha=canonical_hash(PARAMS), change_id="cr-1700000000000-00000001", activated_at=1_700_000_000_000,
    )  # fmt: skip
    (tmp / "evidence" / "changes").mkdir(parents=True, exist_ok=True)
    (tmp / "evidence" / "changes" / "params.json").write_text(json.dumps({"sets": [active.to_wire()]}))


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("live-view")
    plant_feed_and_active_set(tmp)
    server = make_server(
        tmp,
        BACKTEST_IMPL="mock",
        SPARK_REPLAY_SPEED="240",
        SPARK_REPLAY_LEAD_BARS="100",  # a candle every 250 ms
    ).start()
    try:
        yield server
    finally:
        server.stop()


def start_session(server: Server) -> str:
    with server.api() as client:
        answer = client.post(
            "/api/live/start",
            json={"strategy": "sma_cross", "params": PARAMS, "pair": "BTCTRY", "timeframe": "1m", "exchange": "replay"},
        )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_the_list_and_a_session_building_live(page: Any, console: Console, live_server: Server) -> None:
    session_id = start_session(live_server)
    open_dashboard(page, live_server, token=False, hash_="#/live")
    row = page.locator(f"table.sessions tr[data-id='{session_id}']")
    row.wait_for()
    page.wait_for_selector(f"tr[data-id='{session_id}'] .feed[data-feed=connected]")
    assert row.locator("td").nth(5).inner_text() == "running"
    row.locator("a").click()
    page.wait_for_selector(".live-chart[data-drawn=true]")
    box = page.locator(".live-chart")
    first = int(box.get_attribute("data-candles"))
    assert first >= 12
    count = "(n) => Number(document.querySelector('.live-chart').dataset.{}) >= n"
    page.wait_for_function(count.format("candles"), arg=first + 8)  # the candles build while we watch
    page.wait_for_function(count.format("markers"), arg=2, timeout=30_000)
    assert pane_pixels(page, "price") > 500 and pane_pixels(page, "equity") > 100
    page.wait_for_selector("table.trades tbody tr")
    # what the page drew is what the server says
    with live_server.api() as client:
        doc = client.get(f"/api/live/{session_id}").json()
    drawn_last = int(box.get_attribute("data-last-time"))
    assert drawn_last * 1000 <= doc["candles"][-1][0] and drawn_last * 1000 >= doc["candles"][-5][0]
    assert page.locator(".facts .feed").get_attribute("data-feed") == "connected"
    assert page.locator(".facts .corrections").count() == 0  # a replay is its own record: nothing to correct
    stop = page.locator("#live-stop")
    assert stop.is_disabled() and "token" in page.locator(".why").inner_text()
    screenshot(page, "live-session")
    store_token(page)
    page.wait_for_selector("#live-stop:not([disabled])")
    page.on("dialog", lambda dialog: dialog.accept())
    stop.click()
    page.wait_for_selector("main[data-status=stopped]")
    assert stop.is_disabled() and "stopped" in page.locator(".why").inner_text()
    stopped_at = int(box.get_attribute("data-candles"))
    time.sleep(0.8)
    assert int(box.get_attribute("data-candles")) == stopped_at  # nothing builds after the stop
    page.click("a[href='#/live']")
    page.wait_for_selector(f"tr[data-id='{session_id}'][data-status=stopped]")


def test_an_unknown_session_is_said(page: Any, console: Console, live_server: Server) -> None:
    console.allow(r"404")
    open_dashboard(page, live_server, token=False, hash_="#/live/lv-1700000000000-00000000")
    page.wait_for_selector(".notfound:has-text('No live session lv-1700000000000-00000000')")
    open_dashboard(page, live_server, token=False, hash_="#/live/nope")
    page.wait_for_selector("text=is not a live session id")
