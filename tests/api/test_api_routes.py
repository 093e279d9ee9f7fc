"""Read-only routes and error answers, through the Quart test client over a real system."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import trio
from apikit import admin
from quart import Blueprint, Response

from spark.api import create_app
from spark.errors import PluginError
from spark.ids import new_run_id
from spark.plugin.hookspecs import hookimpl
from spark.system import open_system


async def start_run(client: Any, **body: Any) -> dict[str, Any]:
    """Start a run: acknowledged only once its record is on disk."""
    response = await client.post("/api/backtest/start", json=body, headers=admin())
    assert response.status_code == 201, await response.get_data(as_text=True)
    return await response.get_json()


def assert_error(doc: dict[str, Any], code: str, field: str | None = None) -> None:
    assert set(doc) >= {"error", "message", "field"}
    assert doc["error"] == code
    assert isinstance(doc["message"], str) and doc["message"]
    assert doc["field"] == field


async def test_list_is_newest_first_and_limit_is_checked(client: Any) -> None:
    first = await start_run(client, notes="one")
    second = await start_run(client, notes="two")
    doc = await (await client.get("/api/backtest")).get_json()
    assert [r["id"] for r in doc["runs"]] == [second["id"], first["id"]]
    assert doc["runs"][0]["notes"] == "two" and doc["runs"][0]["status"] in ("queued", "running")
    one = await (await client.get("/api/backtest?limit=1")).get_json()
    assert [r["id"] for r in one["runs"]] == [second["id"]]
    for bad in ("0", "-1", "abc", "1e3", "10001", "99999999999999999999", "", "%D9%A3", "1%00"):
        response = await client.get(f"/api/backtest?limit={bad}")
        assert response.status_code == 400, bad
        assert_error(await response.get_json(), "invalid", "limit")


async def test_detail_artifacts_and_unknown_ids(client: Any) -> None:
    run = await start_run(client, pair="BTCUSDT", timeframe="1h")
    response = await client.get(f"/api/backtest/{run['id']}")
    assert response.status_code == 200
    doc = await response.get_json()
    assert doc["id"] == run["id"] and doc["pair"] == "BTCUSDT" and doc["timeframe"] == "1h"
    artifacts = await (await client.get(f"/api/backtest/{run['id']}/artifacts")).get_json()
    names = {a["name"]: a for a in artifacts["artifacts"]}
    assert f"run_{run['id']}.json" in names
    item = names[f"run_{run['id']}.json"]
    assert item["type"] == "run" and item["url"].endswith(item["name"]) and item["bytes"] > 0
    download = await client.get(item["url"])
    assert download.status_code == 200
    body = await download.get_json(force=True)
    assert body["runs"][0]["id"] == run["id"]

    unknown = new_run_id(1_700_000_000_000)
    for path in (
        f"/api/backtest/{unknown}",
        f"/api/backtest/{unknown}/artifacts",
        f"/api/backtest/{unknown}/equity",
        f"/api/backtest/{unknown}/artifacts/run_{unknown}.json",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert_error(await response.get_json(), "not_found", "id")
    response = await client.get(f"/api/backtest/{run['id']}/artifacts/{run['id']}_trades.csv")
    assert response.status_code == 404
    assert_error(await response.get_json(), "not_found", "name")


@pytest.mark.parametrize(
    "bad",
    [
        "bt-1",
        "bt-17000000000000-deadbeef",
        "bt-1700000000000-DEADBEEF",
        "bt-1700000000000-deadbeef%00",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "bt-1700000000000-deadbee%20",
        "bt-1700000000000-deadbeef\u0661",
    ],
)
async def test_ids_are_checked_before_any_file(client: Any, bad: str) -> None:
    for path in (
        f"/api/backtest/{bad}",
        f"/api/backtest/{bad}/equity",
        f"/api/backtest/{bad}/artifacts",
        f"/api/backtest/{bad}/artifacts/run_{bad}.json",
    ):
        response = await client.get(path)
        assert response.status_code in (400, 404), path
        doc = await response.get_json()
        assert doc["error"] in ("invalid", "not_found")
        assert response.content_type.startswith("application/json")


async def test_traversal_in_paths_never_reaches_a_file(client: Any, settings: Any) -> None:
    run = await start_run(client)
    secret = settings.evidence_dir.parent / "secret.txt"
    secret.write_text("top secret")
    for name in (
        "../secret.txt",
        "..%2Fsecret.txt",
        "%2e%2e%2fsecret.txt",
        "....//secret.txt",
        "run_x.json%00.csv",
        f"..%2F..%2F{secret.name}",
    ):
        response = await client.get(f"/api/backtest/{run['id']}/artifacts/{name}")
        assert response.status_code in (400, 404), name
        assert b"top secret" not in await response.get_data()


async def test_a_symlink_planted_in_evidence_is_not_followed(client: Any, settings: Any) -> None:
    run = await start_run(client)
    folder = settings.evidence_dir / "backtest"
    secret = settings.evidence_dir.parent / "secret.txt"
    secret.write_text("top secret")
    planted = folder / f"{run['id']}_trades.csv"  # a name the artifact list knows
    os.symlink(secret, planted)
    listed = await (await client.get(f"/api/backtest/{run['id']}/artifacts")).get_json()
    assert planted.name not in {a["name"] for a in listed["artifacts"]}
    response = await client.get(f"/api/backtest/{run['id']}/artifacts/{planted.name}")
    assert response.status_code == 404
    assert b"top secret" not in await response.get_data()
    # a symlinked run record is refused too, even though the route knows its name
    record = folder / f"run_{run['id']}.json"
    record.rename(folder / "moved.json")
    os.symlink(secret, record)
    response = await client.get(f"/api/backtest/{run['id']}/artifacts/{record.name}")
    assert response.status_code == 404
    assert b"top secret" not in await response.get_data()


async def test_the_detail_and_equity_routes_do_not_follow_a_planted_symlink(client: Any, settings: Any) -> None:
    """Defect 11: the detail route read a summary through a symlink planted in the evidence folder."""
    run = await start_run(client)
    folder = settings.evidence_dir / "backtest"
    secret = settings.evidence_dir.parent / "secret.json"
    secret.write_text('{"id": "x", "report": {"stats": {"leak": "top secret"}}, "metadata": {"leak": 1}}')
    for suffix in (".summary.json", ".json", ".equity.npy"):
        os.symlink(secret, folder / f"{run['id']}{suffix}")
    detail = await client.get(f"/api/backtest/{run['id']}")
    assert detail.status_code == 200 and b"top secret" not in await detail.get_data()
    assert "report" not in await detail.get_json()
    assert (await client.get(f"/api/backtest/{run['id']}/equity")).status_code == 404


async def test_list_pages_with_before_and_refuses_unknown_parameters(client: Any) -> None:
    ids = [(await start_run(client, notes=str(n)))["id"] for n in range(3)]
    page = await (await client.get(f"/api/backtest?limit=1&before={ids[2]}")).get_json()
    assert [r["id"] for r in page["runs"]] == [ids[1]] and page["total"] == 3
    for query in ("limt=5", "limit=5&colour=red", "points=9", "before=bt-1-x"):
        response = await client.get(f"/api/backtest?{query}")
        assert response.status_code == 400, query
    equity = await client.get(f"/api/backtest/{ids[0]}/equity?points=10&zoom=2")
    assert equity.status_code == 400 and (await equity.get_json())["field"] == "zoom"


async def test_plugins_config_health_metrics_openapi(client: Any, system: Any) -> None:
    strategies = await (await client.get("/api/strategies")).get_json()
    names = {s["name"] for s in strategies["strategies"]}
    assert names == set(system.plugins.strategies)
    for spec in strategies["strategies"]:
        for param in spec["params"]:
            assert set(param) >= {"name", "type", "default", "min", "max", "help"}
    feeds = await (await client.get("/api/feeds")).get_json()
    assert {f["name"] for f in feeds["feeds"]} == set(system.plugins.feeds)
    config = await (await client.get("/api/config")).get_json()
    assert config == {
        "adminEnabled": False,
        "writeEnabled": True,
        "impl": "mock",
        "disabledPlugins": [],
        "plugins": [name for name in system.plugins.names if system.plugin_enabled(name)],
        "pluginGeneration": 1,
        "reloads": 0,
        "reloadedAt": None,
        "reloadAttempts": 0,
        "reloadError": None,
    }
    assert {"strategies", "feeds", "write"} <= set(config["plugins"])
    health = await client.get("/health")
    assert health.status_code == 200 and await health.get_json() == {"status": "ok"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and metrics.content_type.startswith("text/plain")
    assert "backtest_active_runs" in await metrics.get_data(as_text=True)
    doc = await (await client.get("/openapi.json")).get_json()
    assert doc["openapi"].startswith("3.")
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in client.app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith("dashboard.")
    }  # the page, not the API
    assert routes == set(doc["paths"])


async def test_unknown_routes_and_methods_answer_json(client: Any) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert_error(await response.get_json(), "not_found")
    response = await client.post("/api/backtest", json={})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert_error(await response.get_json(), "method_not_allowed")
    response = await client.get("/api/backtest/start")
    assert response.status_code == 405  # never a run id
    assert sorted(response.headers["Allow"].split(", ")) == ["OPTIONS", "POST"]
    response = await client.options("/api/backtest/cancel/equity")
    assert "GET" not in response.headers["Allow"]
    response = await client.put("/api/backtest/cancel/bt-1700000000000-deadbeef")
    assert response.status_code == 405 and "DELETE" in response.headers["Allow"]
    response = await client.get("/api/backtest/")  # a trailing slash is the same route, not an HTML redirect
    assert response.status_code == 200


async def test_an_oversized_body_is_refused_on_any_route(client: Any, settings: Any) -> None:
    response = await client.get("/api/backtest", data=b"x" * (settings.max_body_bytes + 1))
    assert response.status_code == 413
    assert_error(await response.get_json(), "too_large")


async def test_health_is_503_once_the_system_stopped(make_settings: Any) -> None:
    async with open_system(make_settings()) as running:
        app = create_app(running)
        client = app.test_client()
        assert (await client.get("/health")).status_code == 200
    response = await client.get("/health")
    assert response.status_code == 503
    assert (await response.get_json())["error"] == "unavailable"


class _RaisingRoutes:
    """A throwaway plugin whose route fails: the answer is a JSON 500 without the details."""

    @hookimpl
    def register_routes(self, register: Any, services: Any) -> None:
        bp = Blueprint("boom", __name__)

        @bp.get("/boom")
        async def boom() -> Response:
            raise RuntimeError("secret detail /etc/shadow")

        register(bp)


class _BadRoutes:
    @hookimpl
    def register_routes(self, register: Any, services: Any) -> None:
        register("not a blueprint")


async def test_an_unexpected_error_is_a_json_500_without_details(make_settings: Any) -> None:
    async with open_system(make_settings(), extra_plugins=[(_RaisingRoutes(), "boom")]) as running:
        response = await create_app(running).test_client().get("/boom")
        assert response.status_code == 500
        doc = await response.get_json()
        assert doc["error"] == "internal" and "secret" not in doc["message"]


async def test_a_plugin_registering_something_else_is_named(make_settings: Any) -> None:
    async with open_system(make_settings(), extra_plugins=[(_BadRoutes(), "badroutes")]) as running:
        with pytest.raises(PluginError, match="badroutes"):
            create_app(running)


async def test_runs_are_filtered_and_sorted_on_the_server(make_settings: Any) -> None:
    """The runs list ranks work: sort by a stat (runs without it last), filter by status, strategy and pair; a
    sorted list pages with offset; unknown values are a 400."""
    async with open_system(make_settings(mock_delay_s=0.05)) as system:
        client = create_app(system).test_client()
        ids = []
        for notes, pair in (("a", "AAA"), ("b", "BBB"), ("c", "AAA")):
            ids.append((await start_run(client, notes=notes, pair=pair))["id"])
        with trio.fail_after(10):
            while any(system.get_run(i)["status"] != "done" for i in ids):  # noqa: ASYNC110 - the read API
                await trio.sleep(0.02)
        running = (await start_run(client, notes="d"))["id"]
        by_start = await (await client.get("/api/backtest?sort=startedAt")).get_json()
        assert [r["id"] for r in by_start["runs"]] == [*ids, running] and by_start["total"] == 4
        done_aaa = await (await client.get("/api/backtest?status=done&pair=AAA")).get_json()
        assert [r["id"] for r in done_aaa["runs"]] == [ids[2], ids[0]] and done_aaa["total"] == 2
        second = await (await client.get("/api/backtest?sort=-startedAt&limit=1&offset=1")).get_json()
        assert [r["id"] for r in second["runs"]] == [ids[2]]
        mock_stats = await (await client.get("/api/backtest?sort=-returnPct")).get_json()  # mock runs have none
        assert len(mock_stats["runs"]) == 4  # all kept, those without the stat last
        for query in ("status=finished", "sort=colour", "sort=-", f"sort=pnl&before={ids[0]}", "offset=-1"):
            response = await client.get(f"/api/backtest?{query}")
            assert response.status_code == 400, query
