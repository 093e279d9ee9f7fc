"""Risk gates in sweeps over the API: ``options.gates`` (or the ``risk_gates`` setting when the body gives none)
apply to every parameter set, as in `spark.run_sweep` with the same gates: the rows' denial counts equal a gated
`run_backtest` of each set, and the sweep's record says which gates it ran under."""

from __future__ import annotations

from typing import Any

import pytest

import spark
from spark.engine.result import camel

from .conftest import SMALL, admin
from .test_api_sweeps import candles_of, ended

GRID = {"fast": [3, 5], "slow": [12, 20]}
GATES = {"maxDrawdownPct": 2, "maxPositionNotional": {"value": 5000, "onViolation": "log"}}
OPTIONS = {"sizePct": 1}


async def _sweep(client: Any, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    answer = await client.post("/api/sweeps", json=body, headers=admin())
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    summary = await ended(client, (await answer.get_json())["id"])
    assert summary["status"] == "done", summary
    page = await (await client.get(f"/api/sweeps/{summary['id']}/results?limit=100")).get_json()
    return summary, page["rows"]


def _reference(settings: Any, gates: Any) -> dict[tuple[int, int], dict[str, Any]]:
    candles = candles_of(SMALL, settings)
    out = {}
    for fast in GRID["fast"]:
        for slow in GRID["slow"]:
            result = spark.run_backtest(candles, "sma_cross", {"fast": fast, "slow": slow}, size_pct=1, gates=gates)
            out[(fast, slow)] = result.report.stats
    return out


async def test_a_sweep_with_gates_applies_them_to_every_set(client: Any, settings: Any) -> None:
    body = {"grid": GRID, "feed": SMALL, "options": {**OPTIONS, "gates": GATES}}
    summary, rows = await _sweep(client, body)
    detail = await (await client.get(f"/api/sweeps/{summary['id']}")).get_json()
    assert detail["doc"]["spec"]["options"]["gates"] == {
        "maxDrawdownPct": {"value": 2.0, "onViolation": "deny"},
        "maxPositionNotional": {"value": 5000.0, "onViolation": "log"},
    }
    expected = _reference(settings, GATES)
    assert sum(s["denied_orders"] for s in expected.values()) > 0  # the case is not vacuous
    assert len(rows) == len(expected)
    for row in rows:
        want = expected[(row["params"]["fast"], row["params"]["slow"])]
        for name in ("denied_orders", "logged_violations", "total_trades", "sharpe", "return_pct"):
            assert row["stats"][camel(name)] == pytest.approx(want[name], abs=1e-9), name


async def test_the_risk_gates_setting_is_a_sweeps_default(make_settings: Any) -> None:
    import json

    settings = make_settings(risk_gates=json.dumps(GATES))
    async with spark.system.open_system(settings) as system:
        client = spark.api.create_app(system).test_client()
        summary, rows = await _sweep(client, {"grid": GRID, "feed": SMALL, "options": OPTIONS})
        detail = await (await client.get(f"/api/sweeps/{summary['id']}")).get_json()
        assert set(detail["doc"]["spec"]["options"]["gates"]) == set(GATES)
        expected = _reference(settings, GATES)
        assert {(r["params"]["fast"], r["params"]["slow"]): r["stats"]["deniedOrders"] for r in rows} == {
            k: v["denied_orders"] for k, v in expected.items()
        }
        # an empty gates object is a sweep without gates, whatever the setting says
        summary, rows = await _sweep(client, {"grid": GRID, "feed": SMALL, "options": {**OPTIONS, "gates": {}}})
        assert rows and all("deniedOrders" not in r["stats"] for r in rows)  # the stats of a run without gates
        detail = await (await client.get(f"/api/sweeps/{summary['id']}")).get_json()
        assert "gates" not in detail["doc"]["spec"]["options"] or not detail["doc"]["spec"]["options"]["gates"]
