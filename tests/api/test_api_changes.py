"""Change requests over the API, with named users: gates on real runs, four-eyes approval, overrides, stale and
self approvals refused, edits voiding approvals, promotion superseding the old set, expiry, one audit line per
transition, evidence runs kept from deletion, bad input named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from apikit import admin, audit_lines, wait_until

from spark.api import create_app
from spark.service.users import add_user
from spark.system import open_system

USERS = {"olga": "operator", "alice": "approver", "bob": "approver", "vera": "viewer"}


def plant_walk_forward(evidence_dir: Path, wf_id: str, params: dict, *, sharpe: float, dsr: float) -> None:
    """A done walk-forward's evidence as the sweep runner leaves it (its sweep.json)."""
    folder = evidence_dir / "sweeps" / wf_id
    folder.mkdir(parents=True)
    result = {
        "final": {"params": params},
        "outOfSample": {"sharpe": sharpe},
        "deflatedSharpe": {"value": dsr},
        "degradation": 0.2,
    }
    doc = {
        "id": wf_id,
        "kind": "walkforward",
        "status": "done",
        "strategy": "sma_cross",
        "finishedAt": 1,
        "result": result,
    }
    (folder / "sweep.json").write_text(json.dumps(doc))


@pytest.fixture
async def desk(make_settings: Any, tmp_path: Path) -> Any:
    settings = make_settings(impl="engine", state_dir=tmp_path / "state", change_ttl_days=30.0)
    tokens = {name: add_user(tmp_path / "state" / "users.toml", name, role, 0) for name, role in USERS.items()}
    async with open_system(settings) as system:
        client = create_app(system).test_client()

        def as_(name: str) -> dict[str, str]:
            return {"x-admin-token": tokens[name]}

        async def run_of(params: dict) -> str:
            body = {"params": params, "feed": {"name": "default"}}
            run_id = (await (await client.post("/api/backtest/start", json=body, headers=admin())).get_json())["id"]
            await wait_until(lambda: system.get_run(run_id)["status"] in ("done", "failed"), 120, 0.05)
            return run_id

        yield system, client, as_, run_of, settings


def body_for(run_id: str, params: dict, **extra: Any) -> dict:
    return {
        "strategy": "sma_cross",
        "pair": "GOOG",
        "timeframe": "1d",
        "params": params,
        "rationale": "faster averages",
        "evidence": {"runs": [run_id], **extra},
    }


@pytest.mark.slow
async def test_four_eyes_with_failing_gates_needs_two_overriding_approvers(desk: Any) -> None:
    system, client, as_, run_of, settings = desk
    params = {"fast": 10, "slow": 30}
    run_id = await run_of(params)
    submitted = await client.post("/api/changes", json=body_for(run_id, params), headers=as_("olga"))
    assert submitted.status_code == 201, await submitted.get_data(as_text=True)
    doc = await submitted.get_json()
    gates = {g["name"]: g for g in doc["gates"]}
    assert (
        doc["state"] == "pending"
        and doc["requester"] == "olga"
        and doc["diff"] == [{"field": "fast", "from": None, "to": 10}, {"field": "slow", "from": None, "to": 30}]
    )
    assert gates["min_trades"]["verdict"] == "pass" and gates["min_trades"]["value"] == 33
    assert gates["lookahead"]["verdict"] == "pass"
    assert gates["oos_sharpe"]["verdict"] == "fail"  # no walk-forward among the evidence
    cr, sha = doc["id"], doc["paramsSha"]

    viewer = await client.post(f"/api/changes/{cr}/approve", json={"paramsSha": sha}, headers=as_("vera"))
    operator = await client.post(f"/api/changes/{cr}/approve", json={"paramsSha": sha}, headers=as_("olga"))
    assert viewer.status_code == operator.status_code == 403
    bare = await client.post(f"/api/changes/{cr}/approve", json={"paramsSha": sha}, headers=as_("alice"))
    assert bare.status_code == 409 and "override reason" in (await bare.get_json())["message"]
    first = await client.post(
        f"/api/changes/{cr}/approve", json={"paramsSha": sha, "reason": "seen it live"}, headers=as_("alice")
    )
    assert (await first.get_json())["state"] == "pending"  # a failing gate needs a second approver
    again = await client.post(
        f"/api/changes/{cr}/approve", json={"paramsSha": sha, "reason": "x"}, headers=as_("alice")
    )
    assert again.status_code == 409
    second = await client.post(
        f"/api/changes/{cr}/approve", json={"paramsSha": sha, "reason": "agreed"}, headers=as_("bob")
    )
    active = await second.get_json()
    assert active["state"] == "active" and active["activatedVersion"] == 1
    sets = (await (await client.get("/api/params")).get_json())["active"]
    assert [(s["strategy"], s["params"], s["version"]) for s in sets] == [("sma_cross", params, 1)]
    assert system.metrics.value("spark_guardrail_overrides_total") == 2

    deleting = await client.delete(f"/api/backtest/{run_id}", headers=admin())
    assert deleting.status_code == 409  # evidence of a change request is kept

    lines = [x for x in audit_lines(settings) if x["action"].startswith("change.")]
    assert [(x["action"], x["user"], x["success"]) for x in lines] == [
        ("change.submit", "olga", True),
        ("change.approve", "vera", False),
        ("change.approve", "olga", False),
        ("change.approve", "alice", False),
        ("change.approve", "alice", True),
        ("change.approve", "alice", False),
        ("change.approve", "bob", True),
    ]
    assert lines[-1]["detail"]["from"] == "pending" and lines[-1]["detail"]["to"] == "active"


@pytest.mark.slow
async def test_passing_gates_one_approval_self_and_stale_refused_and_supersede(desk: Any) -> None:
    _system, client, as_, run_of, settings = desk
    first_params, second_params = {"fast": 10, "slow": 30}, {"fast": 12, "slow": 30}
    wf_one, wf_two = "wf-1700000000000-0000000a", "wf-1700000000000-0000000b"
    plant_walk_forward(settings.evidence_dir, wf_one, first_params, sharpe=1.2, dsr=0.99)
    plant_walk_forward(settings.evidence_dir, wf_two, second_params, sharpe=1.1, dsr=0.97)
    run_one = await run_of(first_params)
    body = body_for(run_one, first_params, walkForward=wf_one)
    doc = await (await client.post("/api/changes", json=body, headers=as_("alice"))).get_json()
    assert {g["verdict"] for g in doc["gates"]} <= {"pass", "warn"}, doc["gates"]
    self_review = await client.post(
        f"/api/changes/{doc['id']}/approve", json={"paramsSha": doc["paramsSha"]}, headers=as_("alice")
    )
    assert self_review.status_code == 403 and "own request" in (await self_review.get_json())["message"]
    stale = await client.post(f"/api/changes/{doc['id']}/approve", json={"paramsSha": "0" * 64}, headers=as_("bob"))
    assert stale.status_code == 409 and (await stale.get_json())["field"] == "paramsSha"
    approved = await client.post(
        f"/api/changes/{doc['id']}/approve", json={"paramsSha": doc["paramsSha"]}, headers=as_("bob")
    )
    assert (await approved.get_json())["state"] == "active"

    run_two = await run_of(second_params)
    body = body_for(run_two, second_params, walkForward=wf_two)
    proposal = await (await client.post("/api/changes", json=body, headers=as_("olga"))).get_json()
    assert proposal["diff"] == [{"field": "fast", "from": 10, "to": 12}] and proposal["active"]["version"] == 1
    edited = await client.patch(f"/api/changes/{proposal['id']}", json={"rationale": "clearer"}, headers=as_("olga"))
    assert (await edited.get_json())["rationale"] == "clearer"
    foreign = await client.patch(f"/api/changes/{proposal['id']}", json={"rationale": "mine"}, headers=as_("alice"))
    assert foreign.status_code == 403
    await client.post(
        f"/api/changes/{proposal['id']}/approve", json={"paramsSha": proposal["paramsSha"]}, headers=as_("bob")
    )
    sets = (await (await client.get("/api/params")).get_json())["sets"]
    assert [(s["version"], s["state"]) for s in sets] == [(1, "superseded"), (2, "active")]
    listed = await (await client.get("/api/changes?state=active")).get_json()
    assert [c["id"] for c in listed["changes"]] == [proposal["id"], doc["id"]]


async def test_bad_bodies_are_400_naming_the_field(desk: Any) -> None:
    _system, client, as_, run_of, settings = desk
    params = {"fast": 10, "slow": 30}
    run_id = await run_of(params)
    cases = [
        (body_for("bt-1700000000000-00000000", params), "evidence.runs[0]"),
        (body_for(run_id, {"fast": 11, "slow": 30}), "evidence.runs[0]"),  # the run ran other params
        (body_for(run_id, {"fast": 40, "slow": 30}), "params.fast"),
        ({**body_for(run_id, params), "colour": 1}, "colour"),
        (body_for(run_id, params, walkForward="wf-1700000000000-00000001"), "evidence.walkForward"),
        ({**body_for(run_id, params), "pair": "no spaces"}, "pair"),
    ]
    for body, field in cases:
        response = await client.post("/api/changes", json=body, headers=as_("olga"))
        assert response.status_code == 400 and (await response.get_json())["field"] == field, (field, body)
    assert (await client.get("/api/changes")).status_code == 200
    assert (await client.get("/api/changes/cr-1")).status_code == 404
    refused = [x for x in audit_lines(settings) if x["action"] == "change.submit"]
    assert len(refused) == len(cases) and not any(x["success"] for x in refused)


async def test_a_pending_request_expires(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(impl="engine", state_dir=tmp_path / "state", change_ttl_days=1.5 / 86_400)
    token = add_user(tmp_path / "state" / "users.toml", "olga", "operator", 0)
    async with open_system(settings) as system:
        client = create_app(system).test_client()
        body = {"params": {"fast": 10, "slow": 30}, "feed": {"name": "default"}}
        run_id = (await (await client.post("/api/backtest/start", json=body, headers=admin())).get_json())["id"]
        await wait_until(lambda: system.get_run(run_id)["status"] == "done", 120, 0.05)
        doc = await (
            await client.post("/api/changes", json=body_for(run_id, body["params"]), headers={"x-admin-token": token})
        ).get_json()
        with trio.fail_after(10):
            while system.change_request(doc["id"])["state"] == "pending":  # noqa: ASYNC110 - the read API
                await trio.sleep(0.05)
        assert system.change_request(doc["id"])["state"] == "expired"
    [line] = [x for x in audit_lines(settings) if x["action"] == "change.expire"]
    assert line["user"] == "system" and line["detail"]["to"] == "expired"
