"""The guardrails panel with named users, each in their own browser context: the requester sees their own request
with Approve disabled and why, a viewer is told their role is short, an approver approves and every open panel
shows the new active set; a failing gate keeps Approve disabled until an override reason is typed, and needs two
approvers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spark.service.users import add_user

from .conftest import Console, Server, make_server, screenshot
from .helpers import open_dashboard, store_token

USERS = {"olga": "operator", "alice": "approver", "bob": "approver", "vera": "viewer"}


def plant_walk_forward(evidence: Path, wf_id: str, params: dict, sharpe: float) -> None:
    folder = evidence / "sweeps" / wf_id
    folder.mkdir(parents=True)
    result = {"final": {"params": params}, "outOfSample": {"sharpe": sharpe}, "deflatedSharpe": {"value": 0.99}}
    doc = {"id": wf_id, "kind": "walkforward", "status": "done", "strategy": "sma_cross", "finishedAt": 1}
    (folder / "sweep.json").write_text(json.dumps({**doc, "result": {**result, "degradation": 0.1}}))


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("guardrails")
    tokens = {name: add_user(tmp / ".spark" / "users.toml", name, role, 0) for name, role in USERS.items()}
    server = make_server(tmp, BACKTEST_IMPL="engine").start()
    try:
        yield server, tokens
    finally:
        server.stop()


def submit(server: Server, token: str, params: dict, wf_id: str, sharpe: float) -> dict[str, Any]:
    plant_walk_forward(server.workdir / "evidence", wf_id, params, sharpe)
    run_id = server.start_run(params=params, feed={"name": "default"})
    server.wait_status(run_id, {"done"})
    body = {
        "strategy": "sma_cross",
        "pair": "GOOG",
        "timeframe": "1d",
        "params": params,
        "rationale": f"try {params}",
        "evidence": {"runs": [run_id], "walkForward": wf_id},
    }
    with server.api() as client:
        answer = client.post("/api/changes", json=body, headers={"x-admin-token": token})
    assert answer.status_code == 201, answer.text
    return answer.json()


def panel(browser: Any, console: Console, server: Server, token: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    open_dashboard(page, server, token=False, hash_="#/guardrails")
    store_token(page, token)
    page.wait_for_selector(".who:has-text('Signed in as')")
    return page


def approve_button(page: Any, change_id: str) -> Any:
    return page.locator(f"article.change[data-id='{change_id}'] button[data-action=approve]")


def test_two_users_decide_in_their_own_browsers(browser: Any, console: Console, desk: Any) -> None:
    server, tokens = desk
    first = submit(server, tokens["olga"], {"fast": 10, "slow": 30}, "wf-1700000000000-0000000a", sharpe=1.2)
    pages = {name: panel(browser, console, server, tokens[name]) for name in ("olga", "vera", "alice")}
    try:
        olga, vera, alice = pages["olga"], pages["vera"], pages["alice"]
        own = approve_button(olga, first["id"])
        assert own.is_disabled() and "your own request" in own.get_attribute("data-reason")
        assert olga.locator(f"article.change[data-id='{first['id']}'] button[data-action=withdraw]").is_enabled()
        assert "viewer" in approve_button(vera, first["id"]).get_attribute("data-reason")
        card = alice.locator(f"article.change[data-id='{first['id']}']")
        assert card.locator("table.diff tr[data-field=fast] td").last.inner_text() == "10"
        assert card.locator("table.gates tr").count() >= 4
        assert card.locator(".evidence a").first.get_attribute("href").startswith("#/runs/bt-")
        screenshot(alice, "guardrails-pending")
        approve_button(alice, first["id"]).click()
        for page in pages.values():  # the requester's and the viewer's panels follow, through the live stream
            page.wait_for_selector("table.sets td:has-text('v1')", timeout=8_000)
        assert olga.locator(f"article.change[data-id='{first['id']}'][data-state=active]").count() == 1
    finally:
        for page in pages.values():
            page.context.close()
    assert not console.errors, console.errors


def test_a_failing_gate_needs_an_override_reason_and_two_approvers(browser: Any, console: Console, desk: Any) -> None:
    server, tokens = desk
    weak = submit(server, tokens["olga"], {"fast": 12, "slow": 30}, "wf-1700000000000-0000000b", sharpe=0.1)
    assert any(g["verdict"] == "fail" for g in weak["gates"])
    pages = {name: panel(browser, console, server, tokens[name]) for name in ("alice", "bob")}
    try:
        alice, bob = pages["alice"], pages["bob"]
        button = approve_button(alice, weak["id"])
        assert button.is_disabled() and "override reason" in button.get_attribute("data-reason")
        card = alice.locator(f"article.change[data-id='{weak['id']}']")
        assert card.locator("tr[data-verdict=fail]").count() >= 1
        card.locator("input.reason").fill("sharpe is low but the regime changed")
        assert button.is_enabled()
        button.click()
        alice.wait_for_selector(f"article.change[data-id='{weak['id']}'] p:has-text('Approved by alice (override')")
        assert alice.locator(f"article.change[data-id='{weak['id']}'][data-state=pending]").count() == 1
        bob.wait_for_selector(f"article.change[data-id='{weak['id']}'] p:has-text('Approved by alice')", timeout=8_000)
        bob.locator(f"article.change[data-id='{weak['id']}'] input.reason").fill("agreed, small size first")
        approve_button(bob, weak["id"]).click()
        bob.wait_for_selector("table.sets td:has-text('v2')", timeout=8_000)
        screenshot(bob, "guardrails-active")
    finally:
        for page in pages.values():
            page.context.close()
    assert not console.errors, console.errors
