"""Risk gates through the service: options.gates in the start body (validated, 400 naming the field), the
risk_gates setting as the default, a gated run's denials in evidence, in GET /api/backtest/<id>/denied and in
spark_guardrail_denials_total{gate}."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from apikit import admin, audit_lines, wait_until

from spark.api import create_app
from spark.config import load_settings
from spark.engine import Options, backtest
from spark.errors import InputError, ParamError
from spark.service.datafiles import load_candles
from spark.system import open_system

GATES = {"maxPositionNotional": 4000, "maxDrawdownPct": {"value": 3, "onViolation": "log"}}
BODY = {
    "pair": "GOOG",
    "timeframe": "1d",
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 30},
    "feed": {"name": "csv", "args": {"path": "GOOG.csv"}},
    "options": {"fee": 0.001, "size": 10, "gates": GATES},
}


async def _start(client: Any, body: dict[str, Any]) -> Any:
    return await client.post("/api/backtest/start", json=body, headers=admin())


@pytest.mark.slow
async def test_a_gated_run_through_the_service(make_settings: Any, data_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(data_dir / "GOOG.csv", data / "GOOG.csv")
    settings = make_settings(impl="engine", data_dir=data)
    async with open_system(settings) as system:
        client = create_app(system).test_client()
        response = await _start(client, BODY)
        assert response.status_code == 201, await response.get_data(as_text=True)
        run_id = (await response.get_json())["id"]
        await wait_until(lambda: system.get_run(run_id)["status"] in ("done", "failed"), 120, 0.1)
        record = system.get_run(run_id)
        assert record["status"] == "done", record["error"]
        assert record["options"]["gates"] == {
            "maxDrawdownPct": {"value": 3.0, "onViolation": "log"},
            "maxPositionNotional": {"value": 4000.0, "onViolation": "deny"},
        }

        from spark_plugins.strategies import SMA_CROSS  # the same run in this process: the reference

        reference = backtest(
            load_candles(data / "GOOG.csv"),
            SMA_CROSS,
            {"fast": 10, "slow": 30},
            Options(fee=0.001, size=10, gates=GATES),
            run_id=run_id,
            started_at=1,
        )
        expected = [d.to_json() for d in reference.report.denied]
        denied_n = reference.report.stats["denied_orders"]
        assert denied_n > 0 and reference.report.stats["logged_violations"] > 0  # the case is not vacuous

        detail = await (await client.get(f"/api/backtest/{run_id}")).get_json()
        assert detail["report"]["stats"]["deniedOrders"] == denied_n == record["stats"]["deniedOrders"]
        assert detail["metadata"]["fingerprint"] == reference.metadata["fingerprint"]
        result = json.loads((settings.evidence_dir / "backtest" / f"{run_id}.json").read_text())
        assert result["report"]["denied"] == expected

        page = await (await client.get(f"/api/backtest/{run_id}/denied?limit=5&offset=2")).get_json()
        assert page["total"] == len(expected) and page["denied"] == expected[2:7]
        assert page["gates"] == record["options"]["gates"]
        assert page["gateStates"] == [g.to_json() for g in reference.report.gate_states]
        assert page["gateStates"][0]["to"] == "REDUCING"
        only = await (await client.get(f"/api/backtest/{run_id}/denied?gate=maxPositionNotional&limit=1000")).get_json()
        assert only["total"] == denied_n and {d["gate"] for d in only["denied"]} == {"maxPositionNotional"}

        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert f'spark_guardrail_denials_total{{gate="maxPositionNotional"}} {float(denied_n)}' in metrics
        assert 'spark_guardrail_denials_total{gate="maxDrawdownPct"} 0.0' in metrics  # logged, not denied
        artifacts = {
            a["name"] for a in (await (await client.get(f"/api/backtest/{run_id}/artifacts")).get_json())["artifacts"]
        }
        assert f"{run_id}.gates.npz" not in artifacts  # evidence for the API, not a download


async def test_the_risk_gates_setting_is_the_default_and_a_body_overrides_it(make_settings: Any) -> None:
    settings = make_settings(risk_gates='{"longOnly": true, "maxOrderNotional": 5000}')
    async with open_system(settings) as system:
        client = create_app(system).test_client()
        plain = (await (await _start(client, {})).get_json())["id"]
        assert system.get_run(plain)["options"]["gates"] == {
            "longOnly": {"value": True, "onViolation": "deny"},
            "maxOrderNotional": {"value": 5000.0, "onViolation": "deny"},
        }
        own = (await (await _start(client, {"options": {"gates": {"cooldownBars": 3}}})).get_json())["id"]
        assert system.get_run(own)["options"]["gates"] == {"cooldownBars": {"value": 3, "onViolation": "deny"}}
        none = (await (await _start(client, {"options": {"gates": {}}})).get_json())["id"]
        assert "gates" not in system.get_run(none)["options"]


@pytest.mark.parametrize(
    ("gates", "field"),
    [
        ({"maxOrderNotional": -1}, "options.gates.maxOrderNotional"),
        ({"maxOrderNotional": "1000"}, "options.gates.maxOrderNotional"),
        ({"maxLeverage": 2}, "options.gates.maxLeverage"),
        ({"maxDrawdownPct": {"value": 5, "onViolation": "warn"}}, "options.gates.maxDrawdownPct.onViolation"),
        ({"maxDrawdownPct": 20, "haltDrawdownPct": 10}, "options.gates.haltDrawdownPct"),
        ({"cooldownBars": 0.5}, "options.gates.cooldownBars"),
        ({"onViolation": "ignore", "longOnly": True}, "options.gates.onViolation"),
        ("deny", "options.gates"),
    ],
)
async def test_bad_gates_are_a_400_naming_the_field_and_audited(client: Any, settings: Any, gates, field) -> None:
    response = await _start(client, {"options": {"gates": gates}})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == "bad_param" and body["field"] == field and field in body["message"]
    (line,) = [a for a in audit_lines(settings) if a["action"] == "start"]
    assert line["success"] is False and field in line["error"]


async def test_denied_route_for_runs_without_gates_or_without_a_result(client: Any, system: Any) -> None:
    run_id = (await (await _start(client, {})).get_json())["id"]
    response = await client.get(f"/api/backtest/{run_id}/denied")
    assert response.status_code == 404  # queued (mock, 30 s): no result yet
    assert (await response.get_json())["field"] == "id"
    response = await client.get(f"/api/backtest/{run_id}/denied?gate=maxLeverage")
    assert response.status_code == 400 and (await response.get_json())["field"] == "gate"
    response = await client.get(f"/api/backtest/{run_id}/denied?page=2")
    assert response.status_code == 400
    response = await client.get("/api/backtest/bt-1700000000000-00000000/denied")
    assert response.status_code == 404


@pytest.mark.slow
async def test_denied_route_of_a_done_run_without_gates(make_settings: Any) -> None:
    settings = make_settings(impl="engine")
    async with open_system(settings) as system:
        client = create_app(system).test_client()
        body = {"feed": {"name": "synthetic", "args": {"bars": 500}}}
        run_id = (await (await _start(client, body)).get_json())["id"]
        await wait_until(lambda: system.get_run(run_id)["status"] in ("done", "failed"), 120, 0.1)
        assert system.get_run(run_id)["status"] == "done"
        page = await (await client.get(f"/api/backtest/{run_id}/denied")).get_json()
        assert page == {"id": run_id, "gates": None, "total": 0, "denied": [], "gateStates": []}
        assert not (settings.evidence_dir / "backtest" / f"{run_id}.gates.npz").exists()


async def test_a_bad_risk_gates_setting_is_refused_naming_it(make_settings: Any) -> None:
    with pytest.raises(InputError) as info:
        load_settings(env={"SPARK_RISK_GATES": "{not json"}, toml_path=None)
    assert info.value.field == "risk_gates"
    with pytest.raises(InputError):
        load_settings(env={"SPARK_RISK_GATES": "[1]"}, toml_path=None)
    with pytest.raises(ParamError) as info:
        async with open_system(make_settings(risk_gates='{"maxOrderNotional": -5}')):
            pass
    assert info.value.field == "risk_gates" and "maxOrderNotional" in info.value.message


def test_risk_gates_in_spark_toml_as_a_table(tmp_path: Path) -> None:
    toml = tmp_path / "spark.toml"
    toml.write_text("[spark.risk_gates]\nmaxOrderNotional = 1000\nlongOnly = true\n")
    settings = load_settings(env={}, toml_path=toml)
    assert json.loads(settings.risk_gates) == {"longOnly": True, "maxOrderNotional": 1000}


def test_the_metric_knows_every_gate() -> None:
    from spark.engine.gates import GATE_ORDER
    from spark.metrics import RISK_GATES, Metrics

    assert RISK_GATES == GATE_ORDER  # metrics sits below the engine and lists them itself
    metrics = Metrics()
    assert all(metrics.value("spark_guardrail_denials_total", {"gate": g}) == 0.0 for g in GATE_ORDER)


async def test_a_reload_with_bad_risk_gates_changes_nothing(make_settings: Any) -> None:
    async with open_system(make_settings()) as system:
        with pytest.raises(ParamError) as info:
            await system.reload(make_settings(risk_gates='{"longOnly": "yes"}'))
        assert info.value.field == "risk_gates"
        assert system.settings.risk_gates == ""
        changes = await system.reload(make_settings(risk_gates='{"longOnly": true}'))
        assert any(change.startswith("risk_gates:") for change in changes)
        client = create_app(system).test_client()
        run_id = (await (await _start(client, {})).get_json())["id"]
        assert system.get_run(run_id)["options"]["gates"] == {"longOnly": {"value": True, "onViolation": "deny"}}
