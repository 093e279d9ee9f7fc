"""The report view: price candles with trade markers and the strategy's indicators, equity with buy and hold and a
log scale, drawdown, linked panes with a crosshair readout, zoom fetching the window at full resolution (a stale
answer dropped), the 409 when the data changed, the trades table (server-sorted, formatted, cards on a phone),
monthly returns and readable settings. A real `spark serve` with the real engine; screenshots under test-output/."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Console, Server, screenshot
from .helpers import horizontal_overflow, number, open_dashboard, pane_pixels

ROOT = Path(__file__).resolve().parents[1]
RUN = {"feed": {"name": "synthetic", "args": {"bars": 2000}}}


@pytest.fixture(scope="module")
def runs(engine_server: Server) -> dict[str, str]:
    """An SMA cross with many trades, an RSI reversion (its own pane with thresholds), a run on a CSV file."""
    data = engine_server.workdir / "data"
    (data / "report.csv").write_text((ROOT / "data" / "GOOG.csv").read_text())
    ids = {
        "sma": engine_server.start_run(**RUN, params={"fast": 3, "slow": 12}),
        "rsi": engine_server.start_run(**RUN, strategy="rsi_reversion"),
        "csv": engine_server.start_run(feed={"name": "csv", "args": {"path": "report.csv"}}),
    }
    for run_id in ids.values():
        engine_server.wait_status(run_id, {"done"})
    return ids


def open_report(page: Any, server: Server, run_id: str) -> Any:
    open_dashboard(page, server, token=False, hash_=f"#/runs/{run_id}")
    page.wait_for_selector(".report-chart[data-drawn=true]")
    return page.locator(".report-chart")


def get(server: Server, path: str) -> Any:
    answer = httpx.get(f"{server.url}{path}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wheel_zoom(page: Any, pane: str = "price", steps: int = 6, at: float = 0.5) -> None:
    box = page.locator(f".pane[data-pane={pane}]").bounding_box()
    page.mouse.move(box["x"] + box["width"] * at, box["y"] + box["height"] * 0.5)
    for _ in range(steps):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(30)


def test_price_markers_indicators_equity_benchmark_and_drawdown_are_drawn_on_linked_panes(
    page: Any, engine_server: Server, runs: dict[str, str]
) -> None:
    chart = open_report(page, engine_server, runs["sma"])
    panes = page.locator(".pane").evaluate_all("ps => ps.map(p => p.dataset.pane)")
    assert panes == ["price", "equity", "drawdown"]
    for pane in panes:
        assert pane_pixels(page, pane) > 2000, pane
    assert "SMA fast, SMA slow" in page.locator(".pane[data-pane=price] .pane-title").inner_text()
    ohlc = get(engine_server, f"/api/backtest/{runs['sma']}/ohlc?points=4000")
    assert 100 < ohlc["markersTotal"] <= 2000
    assert chart.get_attribute("data-markers") == str(ohlc["markersTotal"])
    equity = get(engine_server, f"/api/backtest/{runs['sma']}/equity?points=200")
    assert equity["benchmark"], "the equity route carries buy and hold"
    assert "Charts: TradingView Lightweight Charts" in chart.inner_text()
    screenshot(page, "report-price")


def test_an_rsi_strategy_gets_its_own_pane_beside_the_price(
    page: Any, engine_server: Server, runs: dict[str, str]
) -> None:
    open_report(page, engine_server, runs["rsi"])
    panes = page.locator(".pane").evaluate_all("ps => ps.map(p => p.dataset.pane)")
    assert panes == ["price", "rsi", "equity", "drawdown"]
    assert page.locator(".pane[data-pane=rsi] .pane-title").inner_text() == "RSI"
    assert pane_pixels(page, "rsi") > 1000
    plots = get(engine_server, f"/api/backtest/{runs['rsi']}/ohlc?points=10")["plots"]
    assert plots == [{"name": "rsi", "label": "RSI", "pane": "rsi", "levels": [30.0, 70.0], "color": None}]
    screenshot(page, "report-rsi")


def test_the_crosshair_reads_out_every_pane_and_the_trade_under_it(
    page: Any, engine_server: Server, runs: dict[str, str]
) -> None:
    page.set_viewport_size({"width": 1280, "height": 1400})  # every pane on screen: nothing scrolls under the mouse
    open_report(page, engine_server, runs["sma"])
    page.locator(".report-chart").scroll_into_view_if_needed()
    readout = page.locator(".report-chart .readout")
    box = page.locator(".pane[data-pane=price]").bounding_box()
    y = box["y"] + box["height"] * 0.5
    found = ""
    for dx in range(10, int(box["width"]) - 100, 2):
        page.mouse.move(box["x"] + dx, y)
        text = readout.inner_text()
        if "trade #" in text:
            found = text
            break
    assert found, "no trade found under the crosshair across the price pane"
    assert " UTC" in found and " O " in found and " C " in found
    assert "SMA fast" in found and "equity " in found and "buy and hold " in found and "drawdown " in found
    assert any(word in found for word in ("long entry at", "long exit at", "short entry at", "short exit at"))
    # The crosshair hovering the price pane is drawn on the others too (linked panes): their pixels change.
    before = page.locator(".pane[data-pane=equity]").screenshot()
    page.mouse.move(box["x"] + 40, y)
    assert page.locator(".pane[data-pane=equity]").screenshot() != before


def test_the_log_scale_toggle_redraws_the_equity_pane(page: Any, engine_server: Server, runs: dict[str, str]) -> None:
    open_report(page, engine_server, runs["sma"])
    pane = page.locator(".pane[data-pane=equity]")
    linear = pane.screenshot()
    page.get_by_label("Log scale (equity)").check()
    page.wait_for_timeout(200)
    assert pane.screenshot() != linear
    page.get_by_label("Log scale (equity)").uncheck()
    page.wait_for_timeout(200)
    assert pane.screenshot() == linear


def test_zooming_asks_for_the_window_at_full_resolution_on_price_and_equity(
    page: Any, engine_server: Server, runs: dict[str, str]
) -> None:
    windows: list[str] = []
    page.on("request", lambda r: windows.append(r.url) if "from=" in r.url and "to=" in r.url else None)
    chart = open_report(page, engine_server, runs["sma"])
    assert windows == []  # the first draw is the overview
    equity = page.locator(".pane[data-pane=equity]").screenshot()
    wheel_zoom(page, steps=30)
    page.wait_for_selector(".report-chart[data-zooms]")
    page.wait_for_selector(".zoom-state:has-text('drawn bar by bar')")
    assert any("/ohlc?" in u for u in windows) and any("/equity?" in u for u in windows)
    start, end = (int(x) for x in chart.get_attribute("data-window").split("-"))
    answer = get(engine_server, f"/api/backtest/{runs['sma']}/ohlc?points=4000&from={start}&to={end}")
    assert answer["total"] < 2000  # a window, not the run
    assert page.locator(".pane[data-pane=equity]").screenshot() != equity  # the linked pane zoomed too
    screenshot(page, "report-zoomed")
    page.get_by_role("button", name="Show the whole run").click()
    page.wait_for_selector(".zoom-state:text-is('')", state="attached")


def test_an_answer_for_an_older_window_is_never_drawn_over_a_newer_one(
    page: Any, engine_server: Server, runs: dict[str, str]
) -> None:
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if not held:
            held.append(route)  # answered only after the newer window is drawn
        else:
            route.continue_()

    chart = open_report(page, engine_server, runs["sma"])
    page.route("**/ohlc?*from=*", hold_first)
    wheel_zoom(page, steps=8)
    page.wait_for_timeout(300)
    assert len(held) == 1
    wheel_zoom(page, steps=8, at=0.3)  # a newer window, asked for while the first answer is still held
    page.wait_for_selector(".report-chart[data-zooms]")
    page.wait_for_timeout(800)  # the wheel's last debounced window drawn
    newer, zooms = chart.get_attribute("data-window"), chart.get_attribute("data-zooms")
    held_window = held[0].request.url.split("from=")[1].replace("&to=", "-")
    assert held_window != newer
    with contextlib.suppress(Exception):  # the page aborted it already: what matters is that it is not drawn
        held[0].continue_()
    page.wait_for_timeout(600)
    assert chart.get_attribute("data-window") == newer and chart.get_attribute("data-zooms") == zooms


def test_a_changed_data_file_is_said_plainly_and_the_equity_still_draws(
    page: Any, console: Console, engine_server: Server, runs: dict[str, str]
) -> None:
    console.allow(r"status of 409 .*/ohlc")
    path = engine_server.workdir / "data" / "report.csv"
    original = path.read_text()
    lines = original.splitlines()
    cells = lines[5].split(",")
    cells[-1] = str(int(float(cells[-1])) + 1)  # one more share traded on one day: other data, same shape
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    try:
        open_dashboard(page, engine_server, token=False, hash_=f"#/runs/{runs['csv']}")
        notice = page.locator(".report-chart .reason[data-status='409']")
        notice.wait_for()
        assert "changed since the run" in notice.inner_text()
        page.wait_for_selector(".report-chart[data-drawn=true]")
        assert page.locator(".pane[data-pane=price]").count() == 0
        assert pane_pixels(page, "equity") > 1000
        screenshot(page, "report-409")
    finally:
        path.write_text(original)


def test_trades_sort_on_the_server_with_returns_durations_and_formatted_numbers(
    page: Any, engine_server: Server, runs: dict[str, str]
) -> None:
    open_report(page, engine_server, runs["sma"])
    table = page.locator(".trades[data-loading=false] table")
    table.wait_for()
    first = page.locator(".trades tbody tr").first
    assert first.locator("td[data-key=returnPct]").inner_text().endswith(" %")
    assert first.locator("td[data-key=durationMs]").inner_text() not in ("", "—")
    decimals = int(page.locator(".report-chart").get_attribute("data-decimals"))
    price = first.locator("td[data-key=entryPrice]").inner_text()
    assert len(price.split(".")[1]) == decimals
    assert len(first.locator("td[data-key=pnl]").inner_text().split(".")[1]) == 2
    with page.expect_request("**/trades?sort=-returnPct*"):
        page.locator(".trades th[data-key=returnPct] button").click()  # ascending
        page.wait_for_selector(".trades[data-loading=false] th[data-key=returnPct][aria-sort=ascending]")
        page.locator(".trades th[data-key=returnPct] button").click()
    page.wait_for_selector(".trades[data-loading=false] th[data-key=returnPct][aria-sort=descending]")
    shown = [number(t) for t in page.locator(".trades tbody td[data-key=returnPct]").all_inner_texts()]
    best = get(engine_server, f"/api/backtest/{runs['sma']}/trades?sort=-returnPct&limit=25")["trades"]
    assert shown == [round(t["returnPct"], 2) for t in best]


def test_monthly_returns_and_readable_settings(page: Any, engine_server: Server, runs: dict[str, str]) -> None:
    open_report(page, engine_server, runs["sma"])
    grid = page.locator("table.monthly")
    grid.wait_for()
    months = get(engine_server, f"/api/backtest/{runs['sma']}/monthly")
    years = sorted({m["year"] for m in months["months"]})
    assert grid.locator("tbody tr").count() == len(years)
    assert grid.locator("thead th").count() == 14  # year, twelve months, the year's return
    m = next(m for m in months["months"] if m["returnPct"] and abs(m["returnPct"]) > 0.01)
    cell = grid.locator(f"tr[data-year='{m['year']}'] td").nth(m["month"] - 1)
    assert number(cell.inner_text()) == round(m["returnPct"], 2)
    assert cell.evaluate("c => getComputedStyle(c).backgroundColor") != "rgba(0, 0, 0, 0)"
    settings = page.locator("dl.settings")
    text = settings.inner_text()
    assert "Starts with 10,000.00 in cash." in text and "No fee." in text
    assert "An order decided at a bar's close fills at the next bar's open." in text
    assert "fast = 3, slow = 12" in text
    assert '{"' not in text  # no raw JSON
    assert settings.locator("[data-key=semantics] li").count() >= 3
    screenshot(page, "report-tables")


def test_a_phone_shows_each_trade_as_a_card_without_sideways_scrolling(
    page: Any, engine_server: Server, runs: dict[str, str]
) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    open_report(page, engine_server, runs["rsi"])
    page.locator(".trades[data-loading=false] tbody tr").first.wait_for()
    assert horizontal_overflow(page) <= 0
    card = page.locator(".trades tbody tr").first.bounding_box()
    assert card["height"] > 150 and card["width"] < 375  # stacked cells, one trade per card
    assert page.locator(".trades thead").is_hidden()
    assert pane_pixels(page, "price") > 1000
    screenshot(page, "phone-report-trades")
