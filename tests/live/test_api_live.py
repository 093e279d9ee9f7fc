"""POST /api/live/start, DELETE /api/live/stop/<id>, GET /api/live[/<id>] over a real system: the guardrails, bad
input refused with nothing written, audit lines, metrics, and the session's candles and trades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from spark.config import Settings
from spark.market import session_store as files

from .conftest import APPROVED, admin, audit_lines

BODY = {"strategy": "sma_cross", "params": APPROVED, "pair": "BTCTRY", "timeframe": "1m", "exchange": "replay"}


def live_folders(settings: Settings) -> list[Path]:
    root = settings.evidence_dir / "live"
    return sorted(root.iterdir()) if root.is_dir() else []


async def wait_for(client: Any, session_id: str, check) -> dict[str, Any]:
    with trio.fail_after(10.0):
        while True:
            doc = await (await client.get(f"/api/live/{session_id}")).get_json()
            if check(doc):
                return doc
            await trio.sleep(0.05)


async def test_approved_params_start_a_session(client: Any, system: Any, settings: Settings) -> None:
    response = await client.post("/api/live/start", json=BODY, headers=admin())
    assert response.status_code == 201, await response.get_data()
    answer = await response.get_json()
    assert answer["status"] == "running" and answer["id"].startswith("lv-")
    doc = await wait_for(client, answer["id"], lambda d: d["session"]["bars"] >= 40 and d["trades"])
    session = doc["session"]
    assert session["paramSet"] == {"version": 3, "changeId": "cr-1700000000000-00000001"}
    assert session["override"] is None and session["params"] == {"fast": 5, "slow": 12}
    assert session["feed"]["state"] == "connected"
    assert doc["candles"][0][0] + 12 * 60_000 == files.read_candles(settings.evidence_dir, answer["id"])[12].ts
    listing = await (await client.get("/api/live")).get_json()
    assert [s["id"] for s in listing["sessions"]] == [answer["id"]] and listing["total"] == 1
    assert system.metrics.value("spark_live_sessions") == 1
    assert system.metrics.value("spark_guardrail_overrides_total") == 0
    [line] = [line for line in audit_lines(settings) if line["action"] == "live.start"]
    assert line["success"] is True and line["id"] == answer["id"] and line["user"] == "admin"
    assert line["detail"]["paramSet"]["version"] == 3 and line["detail"].get("override") is None


async def test_unapproved_params_are_refused(client: Any, system: Any, settings: Settings) -> None:
    body = {**BODY, "params": {"fast": 6, "slow": 12}}
    response = await client.post("/api/live/start", json=body, headers=admin())
    assert response.status_code == 403
    error = await response.get_json()
    assert error["field"] == "params" and "active parameter set" in error["message"]
    assert live_folders(settings) == []
    [line] = [line for line in audit_lines(settings) if line["action"] == "live.start"]
    assert line["success"] is False and "forbidden" in line["error"]
    # no active set at all for that strategy
    other = {**BODY, "strategy": "rsi_reversion", "params": {}}
    response = await client.post("/api/live/start", json=other, headers=admin())
    assert response.status_code == 403 and "no active parameter set" in (await response.get_json())["message"]
    assert system.metrics.value("spark_live_sessions") == 0


async def test_an_admin_overrides_with_a_reason(client: Any, system: Any, settings: Settings) -> None:
    body = {**BODY, "params": {"fast": 6, "slow": 12}, "reason": "rehearsal of the next set"}
    response = await client.post("/api/live/start", json=body, headers=admin())
    assert response.status_code == 201
    session_id = (await response.get_json())["id"]
    doc = (await wait_for(client, session_id, lambda d: d["session"]["bars"] > 0))["session"]
    assert doc["override"] == {"reason": "rehearsal of the next set", "user": "admin"} and doc["paramSet"] is None
    assert system.metrics.value("spark_guardrail_overrides_total") == 1
    [line] = [line for line in audit_lines(settings) if line["action"] == "live.start"]
    assert line["success"] is True and line["detail"]["override"]["reason"] == "rehearsal of the next set"


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"strategy": "no_such"}, "strategy", 400),
        ({"params": {"fast": 40, "slow": 30}}, "params.fast", 400),
        ({"params": {"fast": "x"}}, "params.fast", 400),
        ({"pair": "ETHTRY"}, "pair", 400),  # the replay exchange has no file for it
        ({"pair": "BTC/TRY"}, "pair", 400),
        ({"exchange": "nasdaq"}, "exchange", 400),
        ({"timeframe": "7x"}, "timeframe", 400),
        ({"timeframe": "5m"}, "pair", 400),  # no 5m file for BTCTRY
        ({"options": {"fee": -1}}, "options.fee", 400),
        ({"warmupBars": -3}, "warmupBars", 400),
        ({"reason": 12}, "reason", 400),
        ({"colour": "red"}, "colour", 400),
    ],
)
async def test_bad_input_starts_nothing(client: Any, settings: Settings, change: dict, field: str, status: int) -> None:
    body = {**BODY, **change, "reason": change.get("reason", "override, so only the input is judged")}
    response = await client.post("/api/live/start", json=body, headers=admin())
    assert response.status_code == status, await response.get_data()
    assert (await response.get_json())["field"] == field
    assert live_folders(settings) == []
    assert [line["success"] for line in audit_lines(settings) if line["action"] == "live.start"] == [False]


async def test_missing_fields_and_non_json(client: Any, settings: Settings) -> None:
    response = await client.post("/api/live/start", json={"strategy": "sma_cross"}, headers=admin())
    assert response.status_code == 400 and (await response.get_json())["field"] == "pair"
    headers = {**admin(), "content-type": "application/json"}
    response = await client.post("/api/live/start", data="{nope", headers=headers)
    assert response.status_code == 400
    assert live_folders(settings) == []


async def test_only_an_admin_starts_or_stops(client: Any, settings: Settings) -> None:
    response = await client.post("/api/live/start", json=BODY)
    assert response.status_code == 401
    response = await client.delete("/api/live/stop/lv-1700000000000-0123abcd")
    assert response.status_code == 401
    assert live_folders(settings) == []
    assert {line["action"] for line in audit_lines(settings)} == {"live.start", "live.stop"}


async def test_stop(client: Any, system: Any, settings: Settings) -> None:
    session_id = (await (await client.post("/api/live/start", json=BODY, headers=admin())).get_json())["id"]
    await wait_for(client, session_id, lambda d: d["session"]["bars"] > 15)
    response = await client.delete(f"/api/live/stop/{session_id}", headers=admin())
    assert response.status_code == 200
    assert await response.get_json() == {"ok": True, "id": session_id, "status": "stopped"}
    doc = files.read_doc(settings.evidence_dir, session_id)
    assert doc["status"] == "stopped" and doc["error"] == "stopped by admin"
    bars = len(files.read_candles(settings.evidence_dir, session_id))
    await trio.sleep(0.3)
    assert len(files.read_candles(settings.evidence_dir, session_id)) == bars  # nothing after the stop
    again = await client.delete(f"/api/live/stop/{session_id}", headers=admin())
    assert again.status_code == 200 and (await again.get_json())["status"] == "stopped"
    assert system.metrics.value("spark_live_sessions") == 0
    stops = [line for line in audit_lines(settings) if line["action"] == "live.stop"]
    assert [line["success"] for line in stops] == [True]  # the second stop changed nothing
    assert (await client.delete("/api/live/stop/lv-1700000000000-0123abcd", headers=admin())).status_code == 404
    bad = await client.delete("/api/live/stop/../../etc", headers=admin())
    assert bad.status_code in (400, 404)
    bad = await client.delete("/api/live/stop/lv-12", headers=admin())
    assert bad.status_code == 400 and (await bad.get_json())["field"] == "id"


async def test_reads_refuse_bad_queries(client: Any) -> None:
    assert (await client.get("/api/live?status=sleeping")).status_code == 400
    assert (await client.get("/api/live?colour=red")).status_code == 400
    assert (await client.get("/api/live/lv-1")).status_code == 400
    assert (await client.get("/api/live/lv-1700000000000-0123abcd")).status_code == 404
    assert (await client.get("/api/live/lv-1700000000000-0123abcd?points=0")).status_code == 400
