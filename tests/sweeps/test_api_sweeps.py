"""Sweeps over the API (the Quart test client over a real system): a start runs to done and its results come
back sorted, equal to `spark.run_sweep` on the same candles; bad bodies are a 400 naming the field, audited as
refused, nothing written; roles are checked; switching the write plugin off answers 404; cancels."""

from __future__ import annotations

import math
from typing import Any

import pytest
from serverkit import audit_lines, until

import spark
from spark.config import Settings
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import build_plugins
from spark.research.sweep import run_sweep

from .conftest import LONG, SMALL, admin

GRID = {"fast": "4:12:4", "slow": [20, 30, 40]}


async def start(client: Any, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return await client.post("/api/sweeps", json=body, headers=admin() if headers is None else headers)


async def ended(client: Any, sweep_id: str, seconds: float = 120.0) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def check() -> bool:
        found.update((await (await client.get(f"/api/sweeps/{sweep_id}")).get_json())["sweep"])
        return found["status"] in ("done", "failed")

    await until(check, seconds)
    return found


def candles_of(feed: dict[str, Any], settings: Settings) -> Any:
    return build_plugins().feed(feed["name"]).load(feed["args"], FeedEnv(data_dir=settings.data_dir))


async def test_a_grid_sweep_runs_and_its_results_come_sorted(client: Any, system: Any, settings: Settings) -> None:
    answer = await start(client, {"grid": GRID, "feed": SMALL, "constraints": {"minTrades": 2}})
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    doc = await answer.get_json()
    assert doc["id"].startswith("sw-") and doc["status"] == "queued"
    summary = await ended(client, doc["id"])
    assert summary["status"] == "done", summary
    assert summary["done"] == summary["total"] == 9 and summary["error"] is None

    expected = run_sweep(candles_of(summary["feed"], settings), "sma_cross", grid=GRID, constraints={"min_trades": 2})
    page = await (await client.get(f"/api/sweeps/{doc['id']}/results?limit=100")).get_json()
    assert page["total"] == 9 and page["params"] == ["fast", "slow"]
    assert [r["index"] for r in page["rows"]] == [r["index"] for r in expected.top(9)]
    assert summary["best"]["params"] == expected.best["params"]
    assert summary["best"]["value"] == pytest.approx(expected.best["stats"]["sharpe"], abs=1e-12)
    for row in page["rows"]:
        want = expected.row(row["index"])
        assert row["params"] == want["params"]
        for name, value in want["stats"].items():
            if name in ("periods_per_year", "annualisation"):
                continue
            got = row["stats"][spark.engine.result.camel(name)]
            assert (got is None and value is None) or got == pytest.approx(value, abs=1e-9), name

    by_trades = await (await client.get(f"/api/sweeps/{doc['id']}/results?sort=-totalTrades")).get_json()
    trades = [r["stats"]["totalTrades"] for r in by_trades["rows"]]
    assert trades == sorted(trades, reverse=True)
    ascending = await (await client.get(f"/api/sweeps/{doc['id']}/results?sort=fast&limit=4&offset=2")).get_json()
    assert [r["params"]["fast"] for r in ascending["rows"]] == [4, 8, 8, 8] and ascending["total"] == 9

    folder = settings.evidence_dir / "sweeps" / doc["id"]
    assert {p.name for p in folder.iterdir()} >= {"sweep.json", "results.npy"}
    lines = [line for line in audit_lines(settings) if line["action"] == "sweep.start"]
    assert [(line["success"], line["id"], line["user"]) for line in lines] == [(True, doc["id"], "admin")]
    assert system.metrics.value("backtest_sweeps_total", {"status": "done"}) == 1
    assert system.metrics.value("backtest_sweeps_total", {"status": "running"}) == 1
    assert system.metrics.value("backtest_sweep_sets_total") == 9
    listed = await (await client.get("/api/sweeps")).get_json()
    assert [s["id"] for s in listed["sweeps"]] == [doc["id"]] and listed["total"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"grid": {"nope": [1, 2]}}, "grid.nope"),
        ({"grid": {"fast": "9:5:1"}}, "grid.fast"),
        ({"grid": {"fast": []}}, "grid.fast"),
        ({"grid": {"fast": "2:1000:1", "slow": "3:1000:1"}}, "grid"),  # over the cap of 10,000 sets
        ({"grid": {"fast": [5]}, "objective": "bogus"}, "objective"),
        ({"grid": {"fast": [5]}, "objective": 3}, "objective"),
        ({"grid": {"fast": [5]}, "constraints": {"minTradez": 3}}, "constraints.minTradez"),
        ({"grid": {"fast": [5]}, "colour": "red"}, "colour"),
        ({"grid": {"fast": [5]}, "method": "anneal"}, "method"),
        ({"space": {"fast": [2, 10]}, "method": "random"}, "trials"),
        ({"space": {"fast": [10, 2]}, "method": "random", "trials": 5}, "space.fast"),
        ({"grid": {"fast": [40], "slow": [30]}}, "grid"),  # every combination refused (fast >= slow)
        ({"grid": {"fast": [5]}, "walkForward": {"mode": "sideways"}}, "walkForward.mode"),
        ({"grid": {"fast": [5]}, "walkForward": {"folds": 0}}, "walkForward.folds"),
        ({"grid": {"fast": [5]}, "walkForward": {"fold": 3}}, "walkForward.fold"),
        ({"grid": {"fast": [5]}, "options": {"fee": 3}}, "options.fee"),
        ({"grid": {"fast": [5]}, "options": {"gates": {"maxLeverage": 2}}}, "options.gates.maxLeverage"),
        ({"grid": {"fast": [5]}, "strategy": "nope"}, "strategy"),
        ({"grid": {"fast": [5]}, "feed": {"name": "csv", "args": {"path": "../etc/passwd"}}}, "feed.args.path"),
        ({"grid": {"fast": [5]}, "seed": -1}, "seed"),
    ],
)
async def test_bad_bodies_are_a_400_naming_the_field_and_write_nothing(
    make_settings: Any, body: dict[str, Any], field: str
) -> None:
    settings = make_settings(sweep_max_sets=10_000)
    async with spark.system.open_system(settings) as system:
        client = spark.api.create_app(system).test_client()
        answer = await start(client, body)
        doc = await answer.get_json()
        assert answer.status_code == 400, doc
        assert doc["field"] == field, doc
        assert doc["message"]
    assert not (settings.evidence_dir / "sweeps").exists() or not any((settings.evidence_dir / "sweeps").iterdir())
    lines = [line for line in audit_lines(settings) if line["action"] == "sweep.start"]
    assert len(lines) == 1 and lines[0]["success"] is False and lines[0]["payload"] == body


async def test_a_body_that_is_not_json_is_refused_and_audited(client: Any, settings: Settings) -> None:
    answer = await client.post("/api/sweeps", data=b"{grid", headers={**admin(), "content-type": "application/json"})
    assert answer.status_code == 400
    [line] = [line for line in audit_lines(settings) if line["action"] == "sweep.start"]
    assert line["success"] is False and line["payload"] == {"unparsed": "{grid"}


async def test_the_btcturk_feed_needs_market_data_enabled(client: Any, settings: Settings) -> None:
    feed = {"name": "btcturk", "args": {"pair": "BTCTRY", "timeframe": "1h", "since": "2024-01-01"}}
    answer = await start(client, {"grid": {"fast": [5]}, "feed": feed})
    doc = await answer.get_json()
    assert answer.status_code == 403 and doc["field"] == "feed.name", doc
    assert not (settings.evidence_dir / "sweeps").exists()


async def test_roles_an_operator_may_a_viewer_and_a_stranger_may_not(
    client: Any, settings: Settings, tokens: dict[str, str]
) -> None:
    body = {"grid": {"fast": [5, 6]}, "feed": SMALL}
    assert (await start(client, body, headers={})).status_code == 401
    refused = await start(client, body, headers={"x-admin-token": tokens["vera"]})
    assert refused.status_code == 403 and "operator" in (await refused.get_json())["message"]
    ok = await start(client, body, headers={"x-admin-token": tokens["olga"]})
    assert ok.status_code == 201
    sweep_id = (await ok.get_json())["id"]
    cancel = await client.delete(f"/api/sweeps/cancel/{sweep_id}", headers={"x-admin-token": tokens["vera"]})
    assert cancel.status_code == 403
    lines = [(line["action"], line["user"], line["success"]) for line in audit_lines(settings)]
    assert lines == [
        ("sweep.start", "anonymous", False),
        ("sweep.start", "vera", False),
        ("sweep.start", "olga", True),
        ("sweep.cancel", "vera", False),
    ]
    assert (await ended(client, sweep_id))["startedBy"] == "olga"


async def test_with_the_write_plugin_off_the_routes_are_404_and_reads_go_on(make_settings: Any) -> None:
    settings = make_settings(disabled_plugins=("write",))
    async with spark.system.open_system(settings) as system:
        client = spark.api.create_app(system).test_client()
        assert (await start(client, {"grid": {"fast": [5]}})).status_code == 404
        cancel = await client.delete("/api/sweeps/cancel/sw-1700000000000-0123abcd", headers=admin())
        assert cancel.status_code == 404
        assert (await client.get("/api/sweeps")).status_code == 200
    assert not (settings.evidence_dir / "sweeps").exists()


async def test_reads_refuse_bad_ids_and_parameters(client: Any) -> None:
    assert (await client.get("/api/sweeps/bt-1700000000000-0123abcd")).status_code == 400
    missing = await client.get("/api/sweeps/sw-1700000000000-0123abcd")
    assert missing.status_code == 404 and (await missing.get_json())["field"] == "id"
    for query, field in (("?colour=1", "colour"), ("?status=sleeping", "status"), ("?kind=x", "kind")):
        answer = await client.get(f"/api/sweeps{query}")
        assert answer.status_code == 400 and (await answer.get_json())["field"] == field
    sweep_id = (await (await start(client, {"grid": {"fast": [5, 6]}, "feed": SMALL})).get_json())["id"]
    await ended(client, sweep_id)
    for query, field in (("?sort=colour", "sort"), ("?limit=0", "limit"), ("?offset=-1", "offset"), ("?x=1", "x")):
        answer = await client.get(f"/api/sweeps/{sweep_id}/results{query}")
        assert answer.status_code == 400 and (await answer.get_json())["field"] == field, query


async def test_cancel_stops_a_running_sweep_within_a_second(client: Any, system: Any, settings: Settings) -> None:
    import multiprocessing

    import trio

    sweep_id = (await (await start(client, LONG)).get_json())["id"]
    await until(lambda: (system.sweeps()[0]["done"] or 0) > 0, 180)
    # the pool's workers (trio-parallel's cached engine workers, left by earlier tests in this process, are not)
    pool = [p for p in multiprocessing.active_children() if not p.name.startswith("trio-parallel")]
    assert pool
    t0 = trio.current_time()
    answer = await client.delete(f"/api/sweeps/cancel/{sweep_id}", headers=admin())
    took = trio.current_time() - t0
    assert answer.status_code == 200 and (await answer.get_json())["status"] == "failed"
    assert took < 1.0, took
    assert not [p for p in pool if p.is_alive()]  # the pool is gone
    summary = (await (await client.get(f"/api/sweeps/{sweep_id}")).get_json())["sweep"]
    assert summary["status"] == "failed" and summary["error"] == "cancelled" and summary["done"] < summary["total"]
    doc = (await (await client.get(f"/api/sweeps/{sweep_id}")).get_json())["doc"]
    assert doc["status"] == "failed" and doc["error"] == "cancelled" and doc["startedBy"] == "admin"
    assert system.metrics.value("backtest_sweeps_total", {"status": "failed"}) == 1
    again = await client.delete(f"/api/sweeps/cancel/{sweep_id}", headers=admin())
    assert again.status_code == 200  # nothing changes
    assert [line["success"] for line in audit_lines(settings) if line["action"] == "sweep.cancel"] == [True]


async def test_a_queued_sweep_cancelled_never_starts(client: Any, system: Any, settings: Settings) -> None:
    first = await (await start(client, LONG)).get_json()
    second = await (await start(client, {"grid": {"fast": [5, 6]}, "feed": SMALL})).get_json()
    assert system.sweeps(status="queued")[0]["id"] == second["id"]  # one runs at a time
    answer = await client.delete(f"/api/sweeps/cancel/{second['id']}", headers=admin())
    assert answer.status_code == 200 and (await answer.get_json())["status"] == "failed"
    await client.delete(f"/api/sweeps/cancel/{first['id']}", headers=admin())
    doc = (await (await client.get(f"/api/sweeps/{second['id']}")).get_json())["doc"]
    assert doc["status"] == "failed" and doc["error"] == "cancelled" and "executor" not in doc  # never ran
    assert not (settings.evidence_dir / "sweeps" / second["id"] / "results.npy").exists()
    unknown = await client.delete("/api/sweeps/cancel/sw-1700000000000-0123abcd", headers=admin())
    assert unknown.status_code == 404
    bad = await client.delete("/api/sweeps/cancel/nope", headers=admin())
    assert bad.status_code == 400 and (await bad.get_json())["field"] == "id"


async def test_a_done_sweep_cannot_be_cancelled(client: Any) -> None:
    sweep_id = (await (await start(client, {"grid": {"fast": [5, 6]}, "feed": SMALL})).get_json())["id"]
    await ended(client, sweep_id)
    assert (await client.delete(f"/api/sweeps/cancel/{sweep_id}", headers=admin())).status_code == 409


async def test_a_walk_forward_over_the_api(client: Any, settings: Settings) -> None:
    body = {"grid": GRID, "feed": {**SMALL, "args": {**SMALL["args"], "bars": 3000}}, "walkForward": {"folds": 3}}
    answer = await start(client, body)
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    wf_id = (await answer.get_json())["id"]
    assert wf_id.startswith("wf-")
    summary = await ended(client, wf_id, 240)
    assert summary["status"] == "done" and summary["kind"] == "walkforward", summary
    detail = await (await client.get(f"/api/sweeps/{wf_id}?points=100")).get_json()
    result = detail["doc"]["result"]
    assert len(result["folds"]) == 3 and all("outOfSample" in f for f in result["folds"])
    assert summary["best"]["params"] == result["final"]["params"]
    oos, ins = detail["equity"]["outOfSample"], detail["equity"]["inSample"]
    assert 2 <= len(oos["equity"]) <= 101 and oos["timestamp"] == ins["timestamp"]
    assert ins["equity"][0] == pytest.approx(oos["equity"][0])
    assert all(math.isfinite(v) for v in oos["equity"] + ins["equity"])
    page = await (await client.get(f"/api/sweeps/{wf_id}/results")).get_json()
    assert page["total"] == 9  # the final window's sweep
    assert (settings.evidence_dir / "sweeps" / wf_id / "oos_equity.npy").exists()


async def test_sweep_starts_share_the_starts_bucket_with_backtests(make_settings: Any) -> None:
    settings = make_settings(rate_limit_per_minute=2)
    async with spark.system.open_system(settings) as system:
        client = spark.api.create_app(system).test_client()
        assert (await client.post("/api/backtest/start", json={}, headers=admin())).status_code == 201
        assert (await start(client, {"grid": {"fast": [5, 6]}, "feed": SMALL})).status_code == 201
        limited = await start(client, {"grid": {"fast": [5, 6]}, "feed": SMALL})
        assert limited.status_code == 429 and limited.headers.get("Retry-After")
    refused = [line for line in audit_lines(settings) if line["action"] == "sweep.start" and not line["success"]]
    assert len(refused) == 1 and refused[0]["error"].startswith("rate_limited")


async def test_the_metrics_are_exported(client: Any) -> None:
    sweep_id = (await (await start(client, {"grid": {"fast": [5, 6]}, "feed": SMALL})).get_json())["id"]
    await ended(client, sweep_id)
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'backtest_sweeps_total{status="done"} 1.0' in text
    assert 'backtest_sweeps_total{status="queued"} 1.0' in text
    assert "backtest_sweep_sets_total 2.0" in text
