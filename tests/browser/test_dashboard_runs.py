"""Starting and cancelling runs from the dashboard, live updates over SSE, guarded buttons, errors at their field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Console, Server, _server, screenshot
from .helpers import SMALL_RUN, field, open_dashboard, open_form, pane_pixels, store_token

LIVE_MS = 3000  # the seed's promise: a change shows within 3 s


def test_a_run_started_from_the_form_appears_live_finishes_and_its_report_draws(
    page: Any, engine_server: Server
) -> None:
    open_dashboard(page, engine_server)
    open_form(page)
    field(page, "feed.args.bars").locator("input").fill("2000")
    field(page, "params.fast").locator("input").fill("5")
    field(page, "params.slow").locator("input").fill("20")
    screenshot(page, "form")
    with page.expect_response("**/api/backtest/start") as answer:
        page.click("#start-submit")
    assert answer.value.status == 201
    run_id = answer.value.json()["id"]
    row = page.locator(f"tr[data-id='{run_id}']")
    row.wait_for(timeout=LIVE_MS)
    # It came over the stream: the page is connected and not reading the API instead.
    assert page.get_attribute("#sse-badge", "data-state") == "connected"
    assert page.locator("#live-note").is_hidden()
    page.locator(".toast-ok", has_text=f"Started {run_id}").wait_for(timeout=LIVE_MS)
    page.wait_for_selector(f"tr[data-id='{run_id}'][data-status=done]", timeout=90_000)
    assert row.locator("td[data-key=returnPct]").inner_text().strip().endswith("%")
    assert row.locator("td[data-key=data]").inner_text() == "ETHUSDT · 4h · 2,000 bars"
    screenshot(page, "runs")

    row.locator("a.run-id").click()
    page.wait_for_selector(".report-chart[data-drawn=true]")
    assert page.locator(".toolbar .run-id").inner_text() == run_id
    assert pane_pixels(page, "price") > 2000
    assert page.locator("[data-stat=totalTrades] dd").inner_text().strip() != ""
    page.wait_for_selector(".trades table, .trades p")
    assert page.locator(".artifacts a", has_text="Trades (CSV)").count() == 1
    screenshot(page, "report")


def test_a_server_side_validation_error_is_shown_at_its_field(
    page: Any, console: Console, engine_server: Server
) -> None:
    console.allow(r"status of 400 .*api/backtest/start")
    open_dashboard(page, engine_server)
    open_form(page)
    # Each value is valid on its own (the client's checks pass); only the strategy's own rule refuses the pair.
    field(page, "params.fast").locator("input").fill("50")
    field(page, "params.slow").locator("input").fill("20")
    with page.expect_response("**/api/backtest/start") as answer:
        page.click("#start-submit")
    assert answer.value.status == 400
    assert answer.value.json()["field"] == "params.fast"
    error = field(page, "params.fast").locator(".error")
    error.wait_for()
    assert "must be less than" in error.inner_text()
    page.locator(".toast-error", has_text="Start refused").wait_for(timeout=LIVE_MS)
    assert field(page, "params.fast").locator("input").get_attribute("aria-invalid") == "true"


def test_client_side_checks_mirror_the_server_and_send_nothing(page: Any, engine_server: Server) -> None:
    open_dashboard(page, engine_server)
    open_form(page)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/backtest/start") else None)
    field(page, "params.fast").locator("input").fill("0")
    field(page, "pair").locator("input").fill("ETH USDT")
    page.click("#start-submit")
    assert "params.fast must be >= 1" in field(page, "params.fast").locator(".error").inner_text()
    assert "pair must be" in field(page, "pair").locator(".error").inner_text()
    assert page.evaluate("document.activeElement.closest('[data-field]').dataset.field") == "pair"
    page.wait_for_timeout(300)
    assert sent == []


def test_cancel_a_queued_run_behind_a_confirm(page: Any, queue_server: Server) -> None:
    first = queue_server.start_run(**SMALL_RUN, notes="holds the only worker")
    queued = queue_server.start_run(**SMALL_RUN, notes="waits in the queue")
    queue_server.wait_status(first, {"running"})
    assert queue_server.wait_status(queued, {"queued"})["status"] == "queued"
    open_dashboard(page, queue_server)
    row = page.locator(f"tr[data-id='{queued}'][data-status=queued]")
    row.wait_for()
    row.get_by_role("button", name=f"Cancel run {queued}").click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for()
    assert queued in dialog.inner_text()
    page.click("#confirm-yes")
    page.wait_for_selector(f"tr[data-id='{queued}'][data-status=failed]", timeout=LIVE_MS)
    # The stream may beat the answer to the page; the toast follows the answer.
    page.locator(".toast-ok", has_text=f"Cancelled {queued}").wait_for(timeout=LIVE_MS)
    assert page.locator(f"tr[data-id='{first}'][data-status=running]").count() == 1


def test_dismissing_the_confirm_cancels_nothing(page: Any, queue_server: Server) -> None:
    run_id = queue_server.start_run(**SMALL_RUN)
    open_dashboard(page, queue_server)
    row = page.locator(f"tr[data-id='{run_id}']")
    row.get_by_role("button", name=f"Cancel run {run_id}").click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    assert queue_server.wait_status(run_id, {"queued", "running"})["status"] in {"queued", "running"}


@pytest.fixture(scope="module")
def admin_off_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(
        tmp_path_factory, "admin-off", ADMIN_ENABLED="false", BACKTEST_IMPL="mock", SPARK_MOCK_DELAY_S="60"
    )


@pytest.fixture(scope="module")
def write_off_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory, "write-off", SPARK_DISABLED_PLUGINS="write", BACKTEST_IMPL="mock")


@pytest.mark.parametrize(
    ("server_name", "token", "reason"),
    [
        ("admin_off_server", True, "ADMIN_ENABLED is not true"),
        ("write_off_server", True, "write plugin is switched off"),
        ("queue_server", False, "Enter the admin token"),
    ],
)
def test_mutation_buttons_are_disabled_with_the_reason(
    page: Any, request: pytest.FixtureRequest, server_name: str, token: bool, reason: str
) -> None:
    server: Server = request.getfixturevalue(server_name)
    active = None if server_name == "write_off_server" else server.start_run(**SMALL_RUN)
    open_dashboard(page, server, token=token)
    banner = page.locator("#mutation-reason")
    expect(banner).to_contain_text(reason)  # after "Reading the server settings…"
    if active is not None:
        cancel = page.get_by_role("button", name=f"Cancel run {active}")
        expect(cancel).to_be_visible()
        expect(cancel).to_be_disabled()
        expect(cancel).to_have_attribute("title", re.compile(re.escape(reason)))
    open_form(page)
    submit = page.locator("#start-submit")
    expect(submit).to_be_visible()
    expect(submit).to_be_disabled()
    expect(page.locator("#start-reason")).to_contain_text(reason)
    screenshot(page, f"disabled-{server_name.removesuffix('_server')}-{'token' if token else 'no-token'}")
    if not token:
        store_token(page)
        expect(submit).to_be_enabled()
        expect(banner).to_be_hidden()


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory, "limited", BACKTEST_IMPL="mock", SPARK_RATE_LIMIT_PER_MINUTE="1")


def test_a_rate_limited_start_says_how_long_to_wait(page: Any, console: Console, limited_server: Server) -> None:
    console.allow(r"status of 429 .*api/backtest/start")
    limited_server.start_run(**SMALL_RUN)  # the one start this minute allows
    open_dashboard(page, limited_server)
    open_form(page)
    with page.expect_response("**/api/backtest/start") as answer:
        page.click("#start-submit")
    assert answer.value.status == 429
    wait = int(answer.value.headers["retry-after"])
    toast = page.locator(".toast-warn", has_text="rate limit")
    toast.wait_for()
    assert f"Try again in {wait} s" in toast.inner_text()
