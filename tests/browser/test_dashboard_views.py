"""The report and compare views, phone width, keyboard reach, screenshots of the main views."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server, screenshot
from .helpers import SMALL_RUN, drawn_pixels, horizontal_overflow, number, open_dashboard, open_form, pane_pixels


@pytest.fixture(scope="module")
def done_runs(engine_server: Server) -> tuple[str, str]:
    """Two finished runs with many trades (short windows), so tables page and curves differ."""
    a = engine_server.start_run(**SMALL_RUN, params={"fast": 3, "slow": 12}, notes="fast pair")
    b = engine_server.start_run(**SMALL_RUN, strategy="sma_cross", params={"fast": 8, "slow": 40})
    engine_server.wait_status(a, {"done"})
    engine_server.wait_status(b, {"done"})
    return a, b


def test_report_shows_stats_chart_sortable_paged_trades_settings_and_downloads(
    page: Any, engine_server: Server, done_runs: tuple[str, str]
) -> None:
    run_id = done_runs[0]
    open_dashboard(page, engine_server, hash_=f"#/runs/{run_id}")
    page.wait_for_selector(".report-chart[data-drawn=true]")
    assert pane_pixels(page, "price") > 2000 and pane_pixels(page, "equity") > 2000
    assert page.locator("dl.stats > div").count() >= 10
    pager = page.locator(".trades .pager span")
    pager.wait_for()
    assert pager.inner_text().startswith("Page 1 of ")
    assert int(pager.inner_text().split(" of ")[1].split(" ")[0]) > 1
    page.locator(".trades").get_by_role("button", name="Next").click()
    page.wait_for_selector(".trades .pager span:has-text('Page 2 of ')")
    header = page.locator(".trades th[data-key=pnl]")
    header.locator("button").click()
    page.wait_for_selector(".trades th[data-key=pnl][aria-sort=ascending]")
    page.wait_for_selector(".trades .pager span:has-text('Page 1 of ')")
    header.locator("button").click()
    page.wait_for_selector(".trades[data-loading=false] th[data-key=pnl][aria-sort=descending]")
    cells = page.locator(".trades tbody td[data-key=pnl]").all_inner_texts()
    values = [number(c) for c in cells if c]
    assert values == sorted(values, reverse=True) and len(values) > 1
    settings = page.locator("dl.settings").inner_text()
    assert "Fingerprint" in settings and "fast pair" in settings
    links = page.locator(".artifacts a")
    assert {"Trades (CSV)", "Equity curve (CSV)"} <= set(links.all_inner_texts())
    href = page.locator(".artifacts a", has_text="Trades (CSV)").get_attribute("href")
    answer = page.request.get(f"{engine_server.url}{href}")
    assert answer.status == 200 and answer.text().startswith("id,side")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(screenshot(page, "report-full").with_name("report-viewport.png")))


def test_compare_two_runs_on_one_chart(page: Any, engine_server: Server, done_runs: tuple[str, str]) -> None:
    a, b = done_runs
    open_dashboard(page, engine_server)
    for run_id in (a, b):
        page.get_by_role("checkbox", name=f"Select {run_id} for comparison").check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(f"**#/compare/{a}/{b}")
    page.wait_for_selector("canvas.equity[data-drawn=true]")
    assert drawn_pixels(page) > 2000
    assert page.evaluate("document.querySelector('canvas.equity').dataset.points") != "0"
    rows = page.locator("table.compare tbody tr")
    assert rows.count() >= 10
    assert page.locator("table.compare tr[data-stat=pnl] td").count() == 3
    screenshot(page, "compare")


def test_phone_width_has_no_horizontal_scroll(page: Any, engine_server: Server, done_runs: tuple[str, str]) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    open_dashboard(page, engine_server)
    page.wait_for_selector("tr[data-status=done]")
    assert horizontal_overflow(page) <= 0
    screenshot(page, "phone-runs")
    open_form(page)
    assert horizontal_overflow(page) <= 0
    screenshot(page, "phone-form")
    page.goto(f"{engine_server.url}/backtest#/runs/{done_runs[0]}")
    page.wait_for_selector(".report-chart[data-drawn=true]")
    page.wait_for_selector(".trades .pager")
    assert horizontal_overflow(page) <= 0
    screenshot(page, "phone-report")
    page.goto(f"{engine_server.url}/backtest#/compare/{done_runs[0]}/{done_runs[1]}")
    page.wait_for_selector("canvas.equity[data-drawn=true]")
    assert horizontal_overflow(page) <= 0
    screenshot(page, "phone-compare")


def test_keyboard_alone_reaches_the_form_and_its_submit_button(page: Any, engine_server: Server) -> None:
    open_dashboard(page, engine_server)
    page.reload()
    page.wait_for_selector("#sse-badge[data-state=connected]")

    def tab_to(element_id: str, limit: int) -> list[str]:
        seen = []
        for _ in range(limit):
            page.keyboard.press("Tab")
            seen.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
            if seen[-1] == element_id:
                return seen
        pytest.fail(f"Tab never reached #{element_id}; focus went through {seen}")

    tab_to("new-toggle", 30)
    page.keyboard.press("Enter")
    page.wait_for_selector("#start-submit")
    path = tab_to("start-submit", 80)
    assert "f-strategy" in path and "f-feed" in path
    assert page.evaluate("document.activeElement.closest('form').classList.contains('new-backtest')")
