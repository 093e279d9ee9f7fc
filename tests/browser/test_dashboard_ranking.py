"""The runs list ranks and filters through the server (sort=, status=, strategy=, pair=), shows return, drawdown,
Sharpe, trades and the data of each run, fits a 1366 px screen, and stays live over SSE while ranked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Server, _server, screenshot
from .helpers import horizontal_overflow, number, open_dashboard

RUN = {"feed": {"name": "synthetic", "args": {"bars": 1500}}}


@pytest.fixture(scope="module")
def ranking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Its own server, so the list holds exactly this module's runs."""
    yield from _server(tmp_path_factory, "ranking", BACKTEST_IMPL="engine")


@pytest.fixture(scope="module")
def ranked(ranking_server: Server) -> list[str]:
    bodies = [
        {**RUN, "pair": "ETHUSDT", "params": {"fast": 3, "slow": 12}},
        {**RUN, "pair": "BTCUSDT", "params": {"fast": 5, "slow": 40}},
        {**RUN, "pair": "ETHUSDT", "strategy": "rsi_reversion"},
        {**RUN, "pair": "SOLUSDT", "strategy": "bollinger_breakout"},
    ]
    ids = [ranking_server.start_run(**body) for body in bodies]
    for run_id in ids:
        ranking_server.wait_status(run_id, {"done"})
    return ids


def column(page: Any, key: str) -> list[str]:
    return page.locator(f"table.runs tbody td[data-key={key}]").all_inner_texts()


def wait_rows(page: Any, n: int) -> None:
    page.wait_for_selector(f"table.runs[data-loading=false] tbody tr:nth-child({n})")
    # counted by polling: the page's policy refuses the eval that wait_for_function needs
    for _ in range(50):
        if page.locator("table.runs tbody tr").count() == n:
            return
        page.wait_for_timeout(100)
    assert page.locator("table.runs tbody tr").count() == n


def test_columns_show_return_drawdown_sharpe_trades_and_the_data(
    page: Any, ranking_server: Server, ranked: list[str]
) -> None:
    open_dashboard(page, ranking_server, token=False)
    page.wait_for_selector(f"tr[data-id='{ranked[0]}'][data-status=done]")
    with ranking_server.api() as client:
        record = client.get(f"/api/backtest/{ranked[0]}").json()
    row = page.locator(f"tr[data-id='{ranked[0]}']")
    stats = record["stats"]
    assert number(row.locator("td[data-key=returnPct]").inner_text()) == round(stats["returnPct"], 2)
    assert number(row.locator("td[data-key=maxDrawdownPct]").inner_text()) == round(stats["maxDrawdownPct"], 2)
    assert number(row.locator("td[data-key=sharpe]").inner_text()) == round(stats["sharpe"], 2)
    assert number(row.locator("td[data-key=totalTrades]").inner_text()) == stats["totalTrades"]
    assert row.locator("td[data-key=data]").inner_text() == "ETHUSDT · 4h · 1,500 bars"


def test_the_list_fits_a_1366_screen_without_sideways_scrolling(
    page: Any, ranking_server: Server, ranked: list[str]
) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    open_dashboard(page, ranking_server, token=False)
    page.wait_for_selector(f"tr[data-id='{ranked[-1]}'][data-status=done]")
    assert horizontal_overflow(page) <= 0
    wrap = page.locator(".table-wrap").first.evaluate("w => w.scrollWidth - w.clientWidth")
    assert wrap <= 0, "the table scrolls sideways inside its box"
    screenshot(page, "runs-1366")


def test_sorting_asks_the_server_and_shows_its_order(page: Any, ranking_server: Server, ranked: list[str]) -> None:
    open_dashboard(page, ranking_server, token=False)
    page.wait_for_selector(f"tr[data-id='{ranked[-1]}'][data-status=done]")
    with page.expect_request("**/api/backtest?*sort=-returnPct*"):
        page.locator("th[data-sort=returnPct] button").click()
    page.wait_for_selector("table.runs[data-loading=false] th[data-sort=returnPct][aria-sort=descending]")
    with ranking_server.api() as client:
        expected = [r["id"] for r in client.get("/api/backtest?sort=-returnPct").json()["runs"]]
    assert page.locator("table.runs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)") == expected
    values = [number(v) for v in column(page, "returnPct")]
    assert values == sorted(values, reverse=True)
    with page.expect_request("**/api/backtest?*sort=returnPct*"):
        page.locator("th[data-sort=returnPct] button").click()
    page.wait_for_selector("table.runs[data-loading=false] th[data-sort=returnPct][aria-sort=ascending]")
    values = [number(v) for v in column(page, "returnPct")]
    assert values == sorted(values)
    # Max drawdown ranks smallest first on the first click: the best first.
    with page.expect_request("**/api/backtest?*sort=maxDrawdownPct*"):
        page.locator("th[data-sort=maxDrawdownPct] button").click()
    page.wait_for_selector("table.runs[data-loading=false] th[data-sort=maxDrawdownPct][aria-sort=ascending]")
    values = [number(v) for v in column(page, "maxDrawdownPct")]
    assert values == sorted(values)
    screenshot(page, "runs-sorted")


def test_filters_go_to_the_server_and_say_when_nothing_matches(
    page: Any, ranking_server: Server, ranked: list[str]
) -> None:
    open_dashboard(page, ranking_server, token=False)
    page.wait_for_selector(f"tr[data-id='{ranked[-1]}'][data-status=done]")
    page.locator("#filter-strategy option[value=rsi_reversion]").wait_for(state="attached")
    with page.expect_request("**/api/backtest?*strategy=rsi_reversion*"):
        page.select_option("#filter-strategy", "rsi_reversion")
    wait_rows(page, 1)
    assert column(page, "strategy") == ["rsi_reversion"]
    page.select_option("#filter-strategy", "")
    with page.expect_request("**/api/backtest?*pair=ETHUSDT*"):
        page.fill("#filter-pair", "ETHUSDT")
    wait_rows(page, 2)
    assert {t.split(" · ")[0] for t in column(page, "data")} == {"ETHUSDT"}
    assert page.locator("#runs-count").inner_text() == "2 runs match"
    with page.expect_request("**/api/backtest?*status=failed*"):
        page.select_option("#filter-status", "failed")
    page.wait_for_selector(".empty:has-text('No runs match these filters.')")
    page.fill("#filter-pair", "")
    page.select_option("#filter-status", "")
    wait_rows(page, len(ranked))


def test_a_ranked_list_stays_live_a_new_run_enters_it_when_done(
    page: Any, ranking_server: Server, ranked: list[str]
) -> None:
    open_dashboard(page, ranking_server, token=False)
    page.wait_for_selector(f"tr[data-id='{ranked[-1]}'][data-status=done]")
    page.locator("th[data-sort=totalTrades] button").click()
    page.wait_for_selector("table.runs[data-loading=false] th[data-sort=totalTrades][aria-sort=descending]")
    fresh = ranking_server.start_run(**RUN, pair="ETHUSDT", params={"fast": 2, "slow": 5})
    row = page.locator(f"tr[data-id='{fresh}'][data-status=done]")
    row.wait_for(timeout=60_000)  # over the stream, then ranked again by the server
    page.wait_for_timeout(800)
    ids = page.locator("table.runs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    with ranking_server.api() as client:
        expected = [r["id"] for r in client.get("/api/backtest?sort=-totalTrades").json()["runs"]]
    assert ids == expected and fresh in ids
