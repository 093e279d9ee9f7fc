"""A gated run's report: its risk gates as sentences, the account's state changes, the denied and logged orders as
a paged table filtered by gate on the server, and the same rows as markers on the price chart (with the crosshair
readout naming the gate's reason). An ungated run's report has no gate card. A real `spark serve` with the engine."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Server, screenshot
from .helpers import horizontal_overflow, open_dashboard

GATES = {"maxDrawdownPct": 4, "maxPositionNotional": {"value": 5000, "onViolation": "log"}}
RUN = {"feed": {"name": "synthetic", "args": {"bars": 3000}}, "params": {"fast": 3, "slow": 12}}


@pytest.fixture(scope="module")
def gated(engine_server: Server) -> str:
    run_id = engine_server.start_run(**RUN, options={"sizePct": 1, "gates": GATES})
    engine_server.wait_status(run_id, {"done"})
    return run_id


def denied(server: Server, run_id: str, query: str = "") -> Any:
    answer = httpx.get(f"{server.url}/api/backtest/{run_id}/denied{query}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def open_report(page: Any, server: Server, run_id: str) -> Any:
    open_dashboard(page, server, token=False, hash_=f"#/runs/{run_id}")
    page.wait_for_selector(".report-chart[data-drawn=true]")
    return page.locator(".report-chart")


def test_a_gated_run_shows_its_gates_states_and_denials_in_a_table_and_on_the_chart(
    page: Any, engine_server: Server, gated: str
) -> None:
    page.set_viewport_size({"width": 1280, "height": 1400})
    whole = denied(engine_server, gated, "?limit=1000")
    assert whole["total"] > 0 and whole["gateStates"], "the case is vacuous: no denial or no state change"
    chart = open_report(page, engine_server, gated)
    card = page.locator("section.denials")
    card.wait_for()
    gates = card.locator(".gate-list li").all_inner_texts()
    assert any(g == "Max drawdown %: 4 (violating orders are denied)" for g in gates), gates
    assert any("violations are logged" in g for g in gates), gates
    states = card.locator(".gate-states li").all_inner_texts()
    assert states[0].endswith(
        f"ACTIVE → {whole['gateStates'][0]['to']} (drawdown {whole['gateStates'][0]['drawdownPct']:.2f} %)"
    )
    rows = card.locator("tbody tr")
    assert rows.count() == min(25, whole["total"])
    assert [int(b) for b in card.locator("tbody td[data-key=bar]").all_inner_texts()] == [
        d["bar"] for d in whole["denied"][:25]
    ]
    assert card.locator("tbody td[data-key=reason]").first.inner_text() == whole["denied"][0]["reason"]
    # The chart marks every row of the first page (thinned to its budget) and says how many it has.
    page.wait_for_function("() => document.querySelector('.report-chart').dataset.denials !== undefined")
    assert int(chart.get_attribute("data-denials")) == len(whole["denied"])
    assert 0 < int(chart.get_attribute("data-denials-drawn")) <= len(whole["denied"])
    # Filtered on the server by gate: the rows of that gate only, the total said.
    gate = whole["denied"][0]["gate"]
    only = denied(engine_server, gated, f"?gate={gate}&limit=25")
    with page.expect_request(f"**/denied?limit=25&offset=0&gate={gate}"):
        page.select_option("#denied-gate", gate)
    page.wait_for_function(
        "(n) => document.querySelector('section.denials .pager .muted').textContent.includes(n)",
        arg=f"{only['total']:,} rows",
    )
    assert {t for t in card.locator("tbody td[data-key=gate]").all_inner_texts()} == {
        card.locator(f"#denied-gate option[value={gate}]").inner_text()
    }
    screenshot(page, "report-denials")


def test_the_crosshair_names_a_denied_order_and_its_reason(page: Any, engine_server: Server, gated: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 1400})
    first = denied(engine_server, gated, "?limit=1")["denied"][0]
    open_report(page, engine_server, gated)
    page.wait_for_function("() => document.querySelector('.report-chart').dataset.denials !== undefined")
    page.locator(".report-chart").scroll_into_view_if_needed()
    readout = page.locator(".report-chart .readout")
    box = page.locator(".pane[data-pane=price]").bounding_box()
    found = ""
    for dx in range(10, int(box["width"]) - 90, 1):
        page.mouse.move(box["x"] + dx, box["y"] + box["height"] * 0.5)
        text = readout.inner_text()
        if "denied: " in text or "logged: " in text:
            found = text
            break
    assert found, "no denial found under the crosshair across the price pane"
    reasons = {d["reason"] for d in denied(engine_server, gated, "?limit=1000")["denied"]}
    assert any(f"({reason})" in found for reason in reasons), found
    assert first["reason"]  # rows carry their reason in words


def test_an_ungated_run_has_no_gate_card_and_a_phone_shows_denials_as_cards(
    page: Any, engine_server: Server, gated: str
) -> None:
    plain = engine_server.start_run(**RUN)
    engine_server.wait_status(plain, {"done"})
    open_report(page, engine_server, plain)
    page.locator(".trades table").wait_for()
    page.wait_for_selector("table.monthly")  # loaded after the gate page: its absence is settled
    assert page.locator("section.denials").count() == 0
    page.set_viewport_size({"width": 375, "height": 800})
    open_report(page, engine_server, gated)
    page.locator("section.denials tbody tr").first.wait_for()
    assert horizontal_overflow(page) <= 0
    assert page.locator("section.denials thead").is_hidden()
    assert page.locator("section.denials tbody tr").first.bounding_box()["height"] > 150
