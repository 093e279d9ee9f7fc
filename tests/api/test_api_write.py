"""The write plugin's routes: every status code, auth in all its forms, the rate limit, hostile bodies, audit."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from apikit import TOKEN, admin, audit_lines, wait_until

from spark.api import create_app
from spark.ids import new_run_id
from spark.system import open_system

START = "/api/backtest/start"


def cancel_url(run_id: str) -> str:
    return f"/api/backtest/cancel/{run_id}"


async def test_start_then_cancel_then_cancel_again(client: Any, settings: Any, system: Any) -> None:
    response = await client.post(
        START, json={"pair": "ETHUSDT", "timeframe": "4h", "notes": "Smoke test"}, headers=admin()
    )
    assert response.status_code == 201
    started = await response.get_json()
    assert set(started) == {"id", "status", "startedAt"} and started["status"] == "queued"
    assert isinstance(started["startedAt"], int)
    run_id = started["id"]
    response = await client.delete(cancel_url(run_id), headers=admin())
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True, "id": run_id, "status": "failed"}
    record = system.get_run(run_id)
    assert record["status"] == "failed" and record["error"] == "cancelled"
    again = await client.delete(cancel_url(run_id), headers=admin())
    assert again.status_code == 200
    assert await again.get_json() == {"ok": True, "id": run_id, "status": "failed"}
    assert system.get_run(run_id) == record
    lines = audit_lines(settings)
    assert [(x["action"], x["success"], x["user"]) for x in lines][:2] == [
        ("start", True, "admin"),
        ("cancel", True, "admin"),
    ]
    assert lines[0]["id"] == run_id and lines[0]["payload"]["notes"] == "Smoke test"
    assert all(TOKEN not in json.dumps(x) for x in lines)


async def test_cancel_of_a_done_run_is_409_and_unknown_is_404(make_settings: Any) -> None:
    async with open_system(make_settings(mock_delay_s=0.05)) as running:
        client = create_app(running).test_client()
        started = await (await client.post(START, json={}, headers=admin())).get_json()
        await wait_until(lambda: running.get_run(started["id"])["status"] == "done")
        response = await client.delete(cancel_url(started["id"]), headers=admin())
        assert response.status_code == 409
        assert (await response.get_json())["error"] == "conflict"
        response = await client.delete(cancel_url(new_run_id(1_600_000_000_000)), headers=admin())
        assert response.status_code == 404
        response = await client.delete(cancel_url("bt-..%2F..%2Fx"), headers=admin())
        assert response.status_code in (400, 404)
        response = await client.delete(cancel_url("not-an-id"), headers=admin())
        assert response.status_code == 400
        assert (await response.get_json())["field"] == "id"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-admin-token": ""},
        {"x-admin-token": "wrong"},
        {"x-admin-token": TOKEN + "x"},
        {"x-admin-token": TOKEN[:-1]},
        {"x-admin-token": "x" * 100_000},
        {"x-admin-token": "sëcret-tökén"},
        {"x-admin-token": f"{TOKEN},{TOKEN}"},
        {"x-admin-token": f"{TOKEN} {TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"bearer {TOKEN}x"},
        {"Authorization": TOKEN},
    ],
)
async def test_bad_tokens_are_401_with_www_authenticate(client: Any, settings: Any, headers: dict[str, str]) -> None:
    response = await client.post(START, json={}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.get_json())["error"] == "unauthorized"
    line = audit_lines(settings)[-1]
    assert line["action"] == "start" and line["success"] is False and line["user"] == "anonymous"
    assert "error" in line


async def test_non_ascii_bytes_in_the_header_are_401(client: Any) -> None:
    response = await client.post(START, json={}, headers={"x-admin-token": "t\u00ff\u00fe"})
    assert response.status_code == 401


async def test_a_doubled_header_is_refused(app: Any) -> None:
    client = app.test_client()
    from werkzeug.datastructures import Headers

    headers = Headers([("x-admin-token", TOKEN), ("x-admin-token", TOKEN)])
    response = await client.post(START, json={}, headers=headers)
    assert response.status_code == 401


async def test_token_sources_bearer_and_same_origin_cookie(client: Any, settings: Any) -> None:
    response = await client.post(START, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 201
    client.set_cookie("localhost", "admin-token", TOKEN)
    response = await client.post(START, json={}, headers={"Origin": "http://localhost"})
    assert response.status_code == 201
    response = await client.post(START, json={}, headers={"Referer": "http://localhost/dashboard"})
    assert response.status_code == 201
    for foreign in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/x"},
        {"Origin": "https://localhost"},
        {},
    ):
        response = await client.post(START, json={}, headers=foreign)
        assert response.status_code == 403, foreign
        assert (await response.get_json())["error"] == "forbidden"
    response = await client.delete(cancel_url(new_run_id(1_600_000_000_000)), headers={"Origin": "http://evil.x"})
    assert response.status_code == 403
    # the header wins over the cookie: a wrong header is not rescued by a good cookie
    response = await client.post(START, json={}, headers={"Origin": "http://localhost", "x-admin-token": "no"})
    assert response.status_code == 401


async def test_no_token_configured_is_500_saying_so(make_settings: Any) -> None:
    settings = make_settings(admin_token="")
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        for request in (
            client.post(START, json={}, headers=admin()),
            client.delete(cancel_url(new_run_id(1_600_000_000_000)), headers=admin()),
        ):
            response = await request
            assert response.status_code == 500
            doc = await response.get_json()
            assert doc["error"] == "not_configured" and "ADMIN_TOKEN" in doc["message"]
        assert [x["success"] for x in audit_lines(settings)] == [False, False]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"id": "bt-1700000000000-deadbeef"}, "id"),
        ({"pair": 1}, "pair"),
        ({"pair": "ETH USDT"}, "pair"),
        ({"timeframe": "4x"}, "timeframe"),
        ({"strategy": "nope"}, "strategy"),
        ({"strategy": ["sma_cross"]}, "strategy"),
        ({"params": []}, "params"),
        ({"notes": "x" * 1001}, "notes"),
        ({"feed": {"name": "csv", "path": "/etc/passwd"}}, "feed.path"),
        ({"options": {"fee": -1}}, "options.fee"),
        ({"options": {"bogus": 1}}, "options.bogus"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(client: Any, settings: Any, body: Any, field: str) -> None:
    response = await client.post(START, json=body, headers=admin())
    assert response.status_code == 400, await response.get_data(as_text=True)
    doc = await response.get_json()
    assert doc["field"] == field
    line = audit_lines(settings)[-1]
    assert line["success"] is False and line["user"] == "admin" and line["payload"] == body


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[1,",
        b"\xff\xfe{}",
        b'{"notes": "\xc3\x28"}',
        b"NaN",
        b'{"notes": Infinity}',
        b"1e999",
        b"[" * 100_00 + b"]" * 100_00,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"9" * 5000,
        b"[]",
        b'"text"',
    ],
)
async def test_broken_and_hostile_json_is_400(client: Any, settings: Any, raw: bytes) -> None:
    response = await client.post(START, data=raw, headers=admin(**{"Content-Type": "application/json"}))
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid"
    line = audit_lines(settings)[-1]
    assert line["success"] is False
    if raw in (b"[]", b'"text"'):  # JSON, but not an object
        assert line["payload"] == json.loads(raw)
    else:  # what was sent, cut short, for whoever reads the audit
        assert line["payload"] == {"unparsed": raw[:256].decode("utf-8", "replace")}


async def test_huge_bodies_are_413_and_audited(client: Any, settings: Any) -> None:
    huge = json.dumps({"notes": "x" * settings.max_body_bytes}).encode()
    response = await client.post(START, data=huge, headers=admin(**{"Content-Type": "application/json"}))
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
    line = audit_lines(settings)[-1]
    assert line["success"] is False and line["error"].startswith("too_large")


async def test_rate_limit_per_address_with_retry_after(make_settings: Any) -> None:
    settings = make_settings(rate_limit_per_minute=3, queue_size=50)
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        for _ in range(3):
            assert (await client.post(START, json={}, headers=admin())).status_code == 201
        response = await client.post(START, json={}, headers=admin())
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert (await response.get_json())["error"] == "rate_limited"
        # another address has its own budget; X-Forwarded-For is ignored without trusted proxies
        other = await client.post(START, json={}, headers=admin(), scope_base={"client": ("10.0.0.7", 5000)})
        assert other.status_code == 201
        spoofed = await client.post(START, json={}, headers=admin(**{"X-Forwarded-For": "10.9.9.9"}))
        assert spoofed.status_code == 429
        lines = audit_lines(settings)
        assert [x["success"] for x in lines] == [True, True, True, False, True, False]
        assert lines[3]["error"].startswith("rate_limited")
        assert lines[4]["ip"] == "10.0.0.7"


async def test_forwarded_for_counts_only_with_trusted_proxies(make_settings: Any) -> None:
    settings = make_settings(rate_limit_per_minute=1, trusted_proxies=1)
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        for ip in ("203.0.113.1", "203.0.113.2", "garbage, 203.0.113.3"):
            response = await client.post(START, json={}, headers=admin(**{"X-Forwarded-For": ip}))
            assert response.status_code == 201, ip
        response = await client.post(START, json={}, headers=admin(**{"X-Forwarded-For": "203.0.113.1"}))
        assert response.status_code == 429
        assert [x["ip"] for x in audit_lines(settings)][:3] == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]


async def test_a_full_queue_is_503_with_retry_after(make_settings: Any) -> None:
    settings = make_settings(queue_size=1, max_concurrent=1)
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        codes = []
        for _ in range(5):
            response = await client.post(START, json={}, headers=admin())
            codes.append(response.status_code)
            if response.status_code == 503:
                break
        assert codes[0] == 201 and codes[-1] == 503 and set(codes) == {201, 503}
        assert int(response.headers["Retry-After"]) >= 1
        assert (await response.get_json())["error"] == "unavailable"


async def test_switching_write_off_and_on_without_restart(client: Any, system: Any, settings: Any) -> None:
    run = await (await client.post(START, json={}, headers=admin())).get_json()
    await system.reload(replace(settings, disabled_plugins=("write",)))
    response = await client.post(START, json={}, headers=admin())
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "not_found"
    assert (await client.delete(cancel_url(run["id"]), headers=admin())).status_code == 404
    assert (await (await client.get("/api/config")).get_json())["writeEnabled"] is False
    assert (await client.get(f"/api/backtest/{run['id']}")).status_code == 200
    assert system.get_run(run["id"])["status"] in ("queued", "running")
    await system.reload(settings)
    assert (await client.delete(cancel_url(run["id"]), headers=admin())).status_code == 200
    assert (await client.post(START, json={}, headers=admin())).status_code == 201


async def test_delete_removes_an_ended_run_and_refuses_others(client: Any, system: Any, settings: Any) -> None:
    run = await (await client.post(START, json={}, headers=admin())).get_json()
    busy = await client.delete(f"/api/backtest/{run['id']}", headers=admin())
    assert busy.status_code == 409  # queued or running: cancel it first
    assert (await client.delete(cancel_url(run["id"]), headers=admin())).status_code == 200
    assert (await client.delete(f"/api/backtest/{run['id']}")).status_code == 401  # no token
    gone = await client.delete(f"/api/backtest/{run['id']}", headers=admin())
    assert gone.status_code == 200 and await gone.get_json() == {"ok": True, "id": run["id"], "deleted": True}
    assert (await client.get(f"/api/backtest/{run['id']}")).status_code == 404
    assert not (settings.evidence_dir / "backtest" / f"run_{run['id']}.json").exists()
    assert (await client.delete("/api/backtest/not-an-id", headers=admin())).status_code == 400
    lines = [json.loads(x) for p in settings.audit_dir.glob("*.log") for x in p.read_text().splitlines()]
    assert [(x["action"], x["success"]) for x in lines if x["action"] == "delete"] == [
        ("delete", False),
        ("delete", False),
        ("delete", True),
        ("delete", False),
    ]
