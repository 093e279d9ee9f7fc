"""A plugin installed while the server runs: a reload rescans the entry points, the new strategy is offered and
runs in a worker, and each run records the plugin generation it ran with (a real server, a real pip install,
`spark reload`)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent.parent / "api"))
from apikit import ServerProcess
from plugkit import install_plugin

TOKEN = "reload-test-token"
LATE = """
import numpy as np
import spark


def late(params, ctx):
    n = len(ctx.candles)
    ctx.signals(np.arange(n) == 1, np.arange(n) == n - 2)


@spark.hookimpl
def register_strategies(register):
    register(spark.StrategySpec(name="late_arrival", fn=late, version="1", help="installed while serving"))
"""


async def wait_done(client: httpx.AsyncClient, run_id: str) -> dict:
    with trio.fail_after(120):
        while (record := (await client.get(f"/api/backtest/{run_id}")).json())["status"] not in ("done", "failed"):  # noqa: ASYNC110 - polling a real server
            await trio.sleep(0.1)
    return record


@pytest.mark.slow
async def test_a_plugin_installed_while_serving_runs_after_a_reload(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()  # on the server's path from the start, empty: what `pip install --target` fills later
    env = {
        "PYTHONPATH": f"{site}:{':'.join(sys.path)}",
        "ADMIN_TOKEN": TOKEN,
        "BACKTEST_IMPL": "engine",
        "SPARK_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
        "SPARK_DATA_DIR": str(tmp_path / "data"),
        "SPARK_STATE_DIR": str(tmp_path / "state"),
    }
    server = ServerProcess(tmp_path, env)
    url = await server.start()
    headers = {"x-admin-token": TOKEN}
    body = {"strategy": "late_arrival", "feed": {"name": "synthetic", "args": {"bars": 500}}}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            before = await client.post("/api/backtest/start", json={"feed": {"name": "default"}}, headers=headers)
            assert before.status_code == 201, before.text
            refused = await client.post("/api/backtest/start", json=body, headers=headers)
            assert refused.status_code == 400 and refused.json()["field"] == "strategy"

            install_plugin(tmp_path, "late-arrival", {"late_arrival.py": LATE}, {"late": "late_arrival"}, site)
            reload = await trio.to_thread.run_sync(
                lambda: subprocess.run(
                    [sys.executable, "-m", "spark.cli", "reload"],
                    cwd=tmp_path,
                    env=server.env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            )
            assert reload.returncode == 0, reload.stderr
            assert "pluginGeneration: 1 -> 2" in reload.stdout, reload.stdout
            strategies = (await client.get("/api/strategies")).json()["strategies"]
            assert "late_arrival" in {s["name"] for s in strategies}

            started = await client.post("/api/backtest/start", json=body, headers=headers)
            assert started.status_code == 201, started.text
            record = await wait_done(client, started.json()["id"])
            first = await wait_done(client, before.json()["id"])
    finally:
        server.signal(signal.SIGTERM)
        await server.wait()
    assert record["status"] == "done", record["error"]
    assert record["stats"]["totalTrades"] == 1
    assert record["plugins"]["generation"] == first["plugins"]["generation"] + 1
    assert "late" in record["plugins"]["names"] and "late" not in first["plugins"]["names"]
