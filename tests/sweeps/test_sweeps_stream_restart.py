"""Sweeps end to end on real servers: progress and state changes as SSE ``event: sweep`` (throttled), and sweeps
cut off by a shutdown or by a kill -9 of a real ``spark serve`` coming back failed, interrupted."""

from __future__ import annotations

import itertools
import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import trio
from serverkit import served, spawn_server, until

from spark.api import create_app
from spark.config import Settings
from spark.system import open_system

from .conftest import BIG, LONG, TOKEN, admin
from .sweepkit import sse_events

# Sized for the batched kernel (~0.4 ms of CPU per 100,000-bar set): a few seconds on two workers, so several
# throttled progress events fit between running and done.
STREAMED = {"grid": {"fast": "2:40:1", "slow": "50:250:1"}, "feed": BIG}  # 7,839 sets over 100,000 bars


async def test_progress_and_states_arrive_as_sse_events(system: Any) -> None:
    async with (
        served(create_app(system)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/api/backtest/stream") as response,
    ):
        started = await client.post("/api/sweeps", json=STREAMED, headers=admin())
        assert started.status_code == 201, started.text
        sweep_id = started.json()["id"]
        seen: list[tuple[float, dict[str, Any]]] = []
        with trio.fail_after(240):
            async for kind, data in sse_events(response):
                if kind != "sweep" or data["id"] != sweep_id:
                    continue
                seen.append((trio.current_time(), data))
                if data["status"] in ("done", "failed"):
                    break
    events = [d for _, d in seen]
    assert events[0]["status"] == "queued" and events[-1]["status"] == "done", events[-1]
    assert {"id", "status", "done", "total", "best", "serverTime"} <= set(events[-1])
    statuses = [d["status"] for d in events]
    assert statuses.index("running") == 1 and statuses.count("done") == 1
    progress = [(t, d) for t, d in seen if d["status"] == "running" and 0 < d["done"] < d["total"]]
    assert progress, "no progress event between running and done"
    done = [d["done"] for d in events[1:]]
    assert done == sorted(done) and events[-1]["done"] == events[-1]["total"] == 7839
    assert all(d["best"] is not None for _, d in progress)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(progress)]
    assert all(gap >= 0.2 for gap in gaps), gaps  # at most 4 progress events a second


async def test_a_shutdown_leaves_a_running_sweep_failed_interrupted(settings: Settings, tokens: Any) -> None:
    async with open_system(settings) as system:
        client = create_app(system).test_client()
        sweep_id = (await (await client.post("/api/sweeps", json=LONG, headers=admin())).get_json())["id"]
        await until(lambda: (system.sweeps()[0]["done"] or 0) > 0, 180)  # the pool is computing
    doc = json.loads((settings.evidence_dir / "sweeps" / sweep_id / "sweep.json").read_text())
    assert doc["status"] == "failed" and doc["error"] == "interrupted"
    async with open_system(settings) as system:
        [summary] = system.sweeps()
        assert summary["id"] == sweep_id and summary["status"] == "failed" and summary["error"] == "interrupted"


async def test_kill_9_mid_sweep_comes_back_failed_interrupted(tmp_path: Path) -> None:
    env = {"ADMIN_TOKEN": TOKEN, "BACKTEST_IMPL": "mock", "SPARK_SWEEP_WORKERS": "2"}
    proc, url = await spawn_server(tmp_path, env)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            answer = await client.post("/api/sweeps", json=LONG, headers=admin())
            assert answer.status_code == 201, answer.text
            sweep_id = answer.json()["id"]

            async def running() -> bool:
                return (await client.get(f"/api/sweeps/{sweep_id}")).json()["doc"].get("status") == "running"

            await until(running, 120)
        os.kill(proc.pid, signal.SIGKILL)
        await trio.to_thread.run_sync(proc.wait)
    finally:
        if proc.poll() is None:
            proc.kill()
    path = tmp_path / "evidence" / "sweeps" / sweep_id / "sweep.json"
    assert json.loads(path.read_text())["status"] == "running"  # cut off mid-run
    proc, url = await spawn_server(tmp_path, env)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            summary = (await client.get(f"/api/sweeps/{sweep_id}")).json()["sweep"]
            assert summary["status"] == "failed" and summary["error"] == "interrupted", summary
            listed = (await client.get("/api/sweeps?status=failed")).json()
            assert [s["id"] for s in listed["sweeps"]] == [sweep_id]
        proc.send_signal(signal.SIGTERM)
        await trio.to_thread.run_sync(proc.wait)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(path.read_text())["error"] == "interrupted"
