"""The live badge follows the stream: reconnecting when the server goes away, connected when it is back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Console, Server, make_server
from .helpers import open_dashboard


@pytest.fixture
def own_server(tmp_path: Any) -> Iterator[Server]:
    server = make_server(tmp_path, BACKTEST_IMPL="mock").start()
    try:
        yield server
    finally:
        server.stop()


def test_badge_goes_reconnecting_when_the_server_stops_and_connected_when_it_returns(
    page: Any, console: Console, own_server: Server
) -> None:
    # While the server is down the browser logs its failed reconnects; nothing else may reach the console.
    console.allow(r"net::ERR_")
    open_dashboard(page, own_server, token=False)
    badge = page.locator("#sse-badge")
    own_server.stop()
    page.wait_for_selector("#sse-badge[data-state=reconnecting]", timeout=10_000)
    assert "badge-reconnecting" in badge.get_attribute("class")
    own_server.start()
    page.wait_for_selector("#sse-badge[data-state=connected]", timeout=30_000)
    assert page.locator("#live-note").is_hidden()
