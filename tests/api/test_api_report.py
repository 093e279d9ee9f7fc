"""The report view's routes on a real engine run of the GOOG reference: candles bucketed with their extremes, the
strategy's indicator lines and trade markers, a zoomed window at full resolution, the trade list with returns and
durations, monthly returns, the benchmark; a 409 once the data file changed since the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from apikit import admin, wait_until

from spark.api import create_app
from spark.service.datafiles import load_candles
from spark.system import open_system


async def finished_run(client: Any, system: Any, body: dict) -> str:
    response = await client.post("/api/backtest/start", json=body, headers=admin())
    assert response.status_code == 201, await response.get_data(as_text=True)
    run_id = (await response.get_json())["id"]
    await wait_until(lambda: system.get_run(run_id)["status"] in ("done", "failed"), 120, 0.05)
    assert system.get_run(run_id)["status"] == "done", system.get_run(run_id)["error"]
    return run_id


@pytest.mark.slow
async def test_the_price_pane_trades_and_monthly_returns_of_a_real_run(
    make_settings: Any, data_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(data_dir / "GOOG.csv", data / "GOOG.csv")
    goog = load_candles(data / "GOOG.csv")
    settings = make_settings(impl="engine", data_dir=data)
    async with open_system(settings) as system:
        client = create_app(system).test_client()
        body = {
            "params": {"fast": 10, "slow": 30},
            "feed": {"name": "csv", "args": {"path": "GOOG.csv"}},
            "options": {"fee": 0.001, "size": 1},
        }
        run_id = await finished_run(client, system, body)

        whole = await (await client.get(f"/api/backtest/{run_id}/ohlc?points=100")).get_json()
        assert whole["total"] == 2148 and len(whole["open"]) == 100 == len(whole["indicators"]["fast"])
        assert max(whole["high"]) == goog.high.max() and min(whole["low"]) == goog.low.min()
        assert whole["open"][0] == goog.open[0] and whole["close"][-1] == goog.close[-1]
        assert [p["name"] for p in whole["plots"]] == ["fast", "slow"] and whole["plots"][0]["pane"] == "price"
        assert whole["precision"] == 2
        assert whole["markersTotal"] == 33 + 32  # 33 entries, 32 exits (the last trade is still open)
        entries = [m for m in whole["markers"] if m["kind"] == "entry"]
        assert all(m["side"] == "long" for m in entries) and entries[0]["trade"] == 1
        listed = (await (await client.get(f"/api/backtest/{run_id}/trades?limit=100")).get_json())["trades"]
        expected = [("entry", t["id"], t["entryTs"], t["entryPrice"]) for t in listed] + [
            ("exit", t["id"], t["exitTs"], t["exitPrice"]) for t in listed if t["exitTs"] is not None
        ]
        expected.sort(key=lambda m: (m[2], m[0] == "entry"))  # in time, an exit before an entry at one time
        assert [(m["kind"], m["trade"], m["ts"], m["price"]) for m in whole["markers"]] == expected

        busy = await finished_run(
            client, system, {"params": {"fast": 2, "slow": 4}, "feed": {"name": "synthetic", "args": {"bars": 20_000}}}
        )
        thinned = await (await client.get(f"/api/backtest/{busy}/ohlc?points=100")).get_json()
        assert thinned["markersTotal"] > 2_000 and len(thinned["markers"]) == 2_000  # evenly thinned, ends kept
        stamps = [m["ts"] for m in thinned["markers"]]
        assert stamps == sorted(stamps)
        first_trade = (await (await client.get(f"/api/backtest/{busy}/trades?limit=1")).get_json())["trades"][0]
        assert (thinned["markers"][0]["trade"], thinned["markers"][0]["kind"]) == (first_trade["id"], "entry")

        t0, t1 = goog.timestamp[500], goog.timestamp[560]
        zoom = await (await client.get(f"/api/backtest/{run_id}/ohlc?from={t0}&to={t1}&points=4000")).get_json()
        assert zoom["total"] == 61 and zoom["timestamp"] == goog.timestamp[500:561].tolist()  # full resolution
        assert zoom["close"] == goog.close[500:561].tolist()
        assert all(t0 <= m["ts"] <= t1 for m in zoom["markers"])
        curve = await (await client.get(f"/api/backtest/{run_id}/equity?from={t0}&to={t1}&points=4000")).get_json()
        assert curve["timestamp"] == zoom["timestamp"] and len(curve["benchmark"]) == 61
        assert curve["benchmark"][0] == pytest.approx(10_000 * goog.close[500] / goog.close[0])

        trades = await (await client.get(f"/api/backtest/{run_id}/trades?sort=-pnl&limit=5")).get_json()
        assert trades["total"] == 33 and len(trades["trades"]) == 5
        pnls = [t["pnl"] for t in trades["trades"]]
        assert pnls == sorted(pnls, reverse=True)
        best = trades["trades"][0]
        assert best["returnPct"] == pytest.approx(best["pnl"] / (best["qty"] * best["entryPrice"]) * 100)
        assert best["durationMs"] == best["exitTs"] - best["entryTs"] > 0
        by_exit = await (await client.get(f"/api/backtest/{run_id}/trades?sort=-exitTs&limit=1")).get_json()
        assert by_exit["trades"][0]["open"] is False  # the open trade has no exit: it sorts last

        monthly = await (await client.get(f"/api/backtest/{run_id}/monthly")).get_json()
        stats = system.get_run(run_id)["stats"]
        compounded = np.prod([1 + m["returnPct"] / 100 for m in monthly["months"]]) - 1
        assert compounded * 100 == pytest.approx(stats["returnPct"], abs=1e-9)
        assert monthly["months"][0] == {"year": 2004, "month": 8, "returnPct": monthly["months"][0]["returnPct"]}
        assert [y["year"] for y in monthly["years"]] == list(range(2004, 2014))

        for query in ("points=4001", "from=x", "from=10&to=5", "zoom=1"):
            assert (await client.get(f"/api/backtest/{run_id}/ohlc?{query}")).status_code == 400, query
        assert (await client.get(f"/api/backtest/{run_id}/trades?sort=colour")).status_code == 400

        text = (data / "GOOG.csv").read_text().splitlines()
        fields = text[10].split(",")
        fields[4] = f"{float(fields[4]) + 0.01:.2f}"  # one close moved by a cent: other data
        text[10] = ",".join(fields)
        (data / "GOOG.csv").write_text("\n".join(text) + "\n")
        changed = await client.get(f"/api/backtest/{run_id}/ohlc")
        assert changed.status_code == 409 and "changed since the run" in (await changed.get_json())["message"]


async def test_an_rsi_run_plots_its_own_pane_with_its_thresholds(make_settings: Any) -> None:
    async with open_system(make_settings(impl="engine")) as system:
        client = create_app(system).test_client()
        body = {"strategy": "rsi_reversion", "params": {"lower": 25, "upper": 75}, "feed": {"name": "default"}}
        run_id = await finished_run(client, system, body)
        doc = await (await client.get(f"/api/backtest/{run_id}/ohlc?points=50")).get_json()
        other = await (await client.post("/api/backtest/start", json={}, headers=admin())).get_json()
        await client.delete(f"/api/backtest/cancel/{other['id']}", headers=admin())
        not_done = await client.get(f"/api/backtest/{other['id']}/ohlc")  # cancelled: no result to draw
    assert doc["plots"] == [{"name": "rsi", "label": "RSI", "pane": "rsi", "levels": [25.0, 75.0], "color": None}]
    values = [v for v in doc["indicators"]["rsi"] if v is not None]
    assert values and all(0 <= v <= 100 for v in values)
    assert not_done.status_code == 404
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN made it through
