"""spark.api.observe against a real Hypercorn server: what /metrics says after real requests (route templates,
never raw paths; one label for unknown routes; SSE counted but not timed), and the run counters beside them."""

from __future__ import annotations

from typing import Any

import httpx
import trio
from apikit import admin, served, wait_until
from prometheus_client.parser import text_string_to_metric_families

from spark.api import create_app
from spark.api.observe import UNMATCHED, route_label
from spark.system import open_system

MISSING_RUN = "bt-1700000000000-0badc0de"


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float | None:
    for got, got_labels, value in samples:
        if got == name and got_labels == labels:
            return value
    return None


async def _metrics(client: httpx.AsyncClient) -> list[tuple[str, dict[str, str], float]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return _samples(response.text)


async def test_requests_are_counted_and_timed_by_route_template(make_settings: Any) -> None:
    async with (
        open_system(make_settings()) as system,
        served(create_app(system)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        assert (await client.get("/api/backtest")).status_code == 200
        assert (await client.get(f"/api/backtest/{MISSING_RUN}")).status_code == 404
        assert (await client.get(f"/api/backtest/{MISSING_RUN}/equity")).status_code == 404
        assert (await client.get("/api/backtest/not-an-id")).status_code == 400
        assert (await client.get("/no/such/route/one")).status_code == 404
        assert (await client.get("/no/such/route/two?x=1")).status_code == 404
        assert (await client.post("/api/backtest/start", json={})).status_code == 401
        assert (await client.post("/api/backtest/start", json={}, headers=admin())).status_code == 201
        async with client.stream("GET", "/api/backtest/stream") as stream:
            assert stream.status_code == 200
            await stream.aiter_bytes().__anext__()  # the first frame: the stream is answered
        samples = await _metrics(client)

    total = "spark_http_requests_total"
    assert _value(samples, total, route="/api/backtest", method="GET", status="200") == 1
    assert _value(samples, total, route="/api/backtest/<id>", method="GET", status="404") == 1
    assert _value(samples, total, route="/api/backtest/<id>", method="GET", status="400") == 1
    assert _value(samples, total, route="/api/backtest/<id>/equity", method="GET", status="404") == 1
    assert _value(samples, total, route=UNMATCHED, method="GET", status="404") == 2
    assert _value(samples, total, route="/api/backtest/start", method="POST", status="401") == 1
    assert _value(samples, total, route="/api/backtest/start", method="POST", status="201") == 1
    assert _value(samples, total, route="/api/backtest/stream", method="GET", status="200") == 1
    routes = {labels["route"] for name, labels, _ in samples if name.startswith("spark_http_")}
    assert not any("bt-" in route or "not-an-id" in route or "/no/such" in route for route in routes), routes

    count = "spark_http_request_duration_seconds_count"
    assert _value(samples, count, route="/api/backtest/start", method="POST") == 2
    assert _value(samples, count, route="/api/backtest/<id>", method="GET") == 2
    assert _value(samples, count, route="/api/backtest/stream", method="GET") is None  # streams are not timed
    le_01 = _value(samples, "spark_http_request_duration_seconds_bucket", route="/api/backtest", method="GET", le="0.1")
    assert le_01 is not None  # 0.1 s is a bucket edge: the latency SLO counts from it


async def test_a_cancel_counts_as_cancelled_and_failed_and_the_queue_depth_follows(make_settings: Any) -> None:
    async with (
        open_system(make_settings(max_concurrent=1)) as system,
        served(create_app(system)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        ids = []
        for _ in range(3):
            response = await client.post("/api/backtest/start", json={}, headers=admin())
            assert response.status_code == 201
            ids.append(response.json()["id"])
        await wait_until(lambda: system.get_run(ids[0])["status"] == "running")
        samples = await _metrics(client)
        assert _value(samples, "backtest_queue_depth") == 2
        assert _value(samples, "backtest_runs_cancelled_total") == 0

        assert (await client.delete(f"/api/backtest/cancel/{ids[2]}", headers=admin())).status_code == 200
        assert (await client.delete(f"/api/backtest/cancel/{ids[2]}", headers=admin())).status_code == 200
        samples = await _metrics(client)
        assert _value(samples, "backtest_queue_depth") == 1
        assert _value(samples, "backtest_runs_cancelled_total") == 1  # the repeated cancel changed nothing
        assert _value(samples, "backtest_runs_total", status="failed") == 1

        assert (await client.delete(f"/api/backtest/cancel/{ids[0]}", headers=admin())).status_code == 200
        await wait_until(lambda: system.get_run(ids[1])["status"] == "running")
        with trio.fail_after(5):
            samples = await _metrics(client)
        assert _value(samples, "backtest_queue_depth") == 0
        assert _value(samples, "backtest_runs_cancelled_total") == 2
        assert _value(samples, "backtest_runs_total", status="failed") == 2


def test_route_labels_drop_converters_and_name_ids() -> None:
    from werkzeug.routing import Rule

    assert route_label(Rule("/api/backtest/<run:run_id>/artifacts/<name>")) == "/api/backtest/<id>/artifacts/<name>"
    assert route_label(Rule("/api/changes/<change_id>/approve")) == "/api/changes/<id>/approve"
    assert route_label(Rule("/assets/<path:name>")) == "/assets/<name>"
    assert route_label(None) == UNMATCHED
