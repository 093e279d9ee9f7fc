"""End to end against real ``spark serve`` processes: the seed's smoke checklist, SIGHUP rollback, kill -9, fuzzing."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from apikit import TOKEN, admin, spark_serve, sse_events

pytestmark = pytest.mark.slow


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in /metrics"
    return float(match.group(1))


async def first_status(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    """POST ``path`` until it answers ``status``: a signal is handled asynchronously (within milliseconds)."""
    with trio.fail_after(10):
        while True:
            response = await client.post(path, json={}, headers=admin())
            if response.status_code == status:
                return response
            await trio.sleep(0.02)


async def test_seed_smoke_checklist_steps_1_to_5(tmp_path: Path) -> None:
    async with spark_serve(tmp_path) as server, httpx.AsyncClient(base_url=server.url) as client:
        # 1. start
        response = await client.post(
            "/api/backtest/start",
            headers={**admin(), "Content-Type": "application/json"},
            content=b'{"pair":"ETHUSDT","timeframe":"4h","notes":"Smoke test"}',
        )
        assert response.status_code == 201
        started = response.json()
        assert set(started) == {"id", "status", "startedAt"} and started["status"] == "queued"
        assert re.fullmatch(r"bt-[0-9]{13}-[0-9a-f]{8}", started["id"]) and isinstance(started["startedAt"], int)
        run_id = started["id"]
        # 2. cancel
        response = await client.delete(f"/api/backtest/cancel/{run_id}", headers=admin())
        assert response.status_code == 200
        assert response.json() == {"ok": True, "id": run_id, "status": "failed"}
        # 3. evidence
        files = sorted((tmp_path / "evidence" / "backtest").glob("run_bt-*.json"))
        assert [f.name for f in files] == [f"run_{run_id}.json"]
        doc = json.loads(files[0].read_text())
        assert doc["runs"][0]["id"] == run_id and doc["runs"][0]["status"] == "failed"
        # 4. audit: two lines, today's UTC file
        day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        lines = [json.loads(x) for x in (tmp_path / "logs" / "audit" / f"backtest_{day}.log").read_text().splitlines()]
        assert [(x["action"], x["ip"], x["user"], x["id"], x["success"]) for x in lines] == [
            ("start", "127.0.0.1", "admin", run_id, True),
            ("cancel", "127.0.0.1", "admin", run_id, True),
        ]
        assert all(set(x) >= {"timestamp", "action", "ip", "user", "id", "payload", "success"} for x in lines)
        assert TOKEN not in json.dumps(lines)
        # 5. metrics
        text = (await client.get("/metrics")).text
        assert metric(text, "backtest_runs_total", '{status="queued"}') == 1
        assert metric(text, "backtest_runs_total", '{status="failed"}') == 1
    assert server.proc is not None and server.proc.returncode == 0  # SIGINT: a graceful stop


async def test_sighup_switches_writes_off_and_on_while_reads_streams_and_runs_go_on(tmp_path: Path) -> None:
    async with (
        spark_serve(tmp_path, SPARK_MOCK_DELAY_S="2.0") as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        run_id = (await client.post("/api/backtest/start", json={}, headers=admin())).json()["id"]
        seen: list[tuple[str, str]] = []

        async def watch(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            async with client.stream("GET", "/api/backtest/stream") as response:
                task_status.started()
                async for _, kind, data in sse_events(response):
                    if kind == "run":
                        seen.append((data["id"], data["status"]))
                        if (run_id, "done") in seen:
                            return

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(watch)
                (tmp_path / "spark.toml").write_text('[plugins]\ndisabled = ["write"]\n')
                server.signal(signal.SIGHUP)
                response = await first_status(client, "/api/backtest/start", 404)
                assert response.json()["error"] == "not_found"
                assert (await client.delete(f"/api/backtest/cancel/{run_id}", headers=admin())).status_code == 404
                assert (await client.get("/api/config")).json()["writeEnabled"] is False
                assert (await client.get(f"/api/backtest/{run_id}")).status_code == 200
        assert (run_id, "done") in seen  # the run in flight finished; the stream saw it
        (tmp_path / "spark.toml").write_text("[plugins]\ndisabled = []\n")
        server.signal(signal.SIGHUP)
        await first_status(client, "/api/backtest/start", 201)


async def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    env = {
        "SPARK_MOCK_DELAY_S": "120",
        "SPARK_MAX_CONCURRENT": "5",
        "SPARK_RATE_LIMIT_PER_MINUTE": "100000",
        "SPARK_QUEUE_SIZE": "10000",
    }
    acked: list[tuple[str, str]] = []  # (action, id)
    async with spark_serve(tmp_path, **env) as server, httpx.AsyncClient(base_url=server.url) as client:
        for i in range(20):
            response = await client.post("/api/backtest/start", json={"notes": f"r{i}"}, headers=admin())
            assert response.status_code == 201
            acked.append(("start", response.json()["id"]))
        for _, run_id in acked[:5]:
            assert (await client.delete(f"/api/backtest/cancel/{run_id}", headers=admin())).status_code == 200
            acked.append(("cancel", run_id))

        async def hammer() -> None:
            async with httpx.AsyncClient(base_url=server.url) as own:
                while True:
                    try:
                        response = await own.post("/api/backtest/start", json={}, headers=admin())
                    except httpx.TransportError:
                        return
                    if response.status_code == 201:
                        acked.append(("start", response.json()["id"]))

        async with trio.open_nursery() as nursery:  # mutations in flight when the process dies
            for _ in range(4):
                nursery.start_soon(hammer)
            await trio.sleep(0.5)
            server.kill()
    assert len(acked) >= 25

    folder = tmp_path / "evidence" / "backtest"
    for path in folder.glob("*.json"):
        json.loads(path.read_text())  # every evidence file parses
    lines = []
    for path in (tmp_path / "logs" / "audit").glob("backtest_*.log"):
        for raw in path.read_text().splitlines():
            with contextlib.suppress(ValueError):  # at most a torn last line: repaired at the next start
                lines.append(json.loads(raw))
    audited = {(x["action"], x["id"]) for x in lines if x["success"]}
    assert set(acked) <= audited

    async with spark_serve(tmp_path, **env) as server, httpx.AsyncClient(base_url=server.url) as client:
        runs = {r["id"]: r for r in (await client.get("/api/backtest?limit=10000")).json()["runs"]}
        cancelled = {run_id for action, run_id in acked if action == "cancel"}
        for action, run_id in acked:
            if action != "start":
                continue
            assert run_id in runs
            record = runs[run_id]
            assert record["status"] == "failed"
            assert record["error"] == ("cancelled" if run_id in cancelled else "interrupted")
        for path in (tmp_path / "logs" / "audit").glob("backtest_*.log"):
            for raw in path.read_text().splitlines():
                json.loads(raw)  # the torn line, if any, is gone


async def test_fuzz_the_openapi_document_finds_no_500(tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    assert cli, "schemathesis is in the test extras"
    env = {
        "SPARK_RATE_LIMIT_PER_MINUTE": "100000",
        "SPARK_MUTATION_RATE_LIMIT_PER_MINUTE": "100000",
        "SPARK_QUEUE_SIZE": "100000",
        "SPARK_MOCK_DELAY_S": "0.5",
    }
    async with spark_serve(tmp_path, **env) as server:
        command = [
            cli,
            "run",
            f"{server.url}/openapi.json",
            "-H",
            f"x-admin-token: {TOKEN}",
            "-n",
            "50",
            "--exclude-path",
            "/api/backtest/stream",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--seed",
            "1",
            "--request-timeout",
            "10",
        ]
        result = await trio.to_thread.run_sync(
            lambda: subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
        )
    assert result.returncode == 0, result.stdout[-6000:]


async def test_sigterm_stops_gracefully_recording_runs_in_flight(tmp_path: Path) -> None:
    async with spark_serve(tmp_path, SPARK_MOCK_DELAY_S="120") as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            ids = [(await client.post("/api/backtest/start", json={}, headers=admin())).json()["id"] for _ in range(2)]
        server.signal(signal.SIGTERM)
        assert await server.wait(30) == 0
    for run_id in ids:
        record = json.loads((tmp_path / "evidence" / "backtest" / f"run_{run_id}.json").read_text())["runs"][0]
        assert (record["status"], record["error"]) == ("failed", "interrupted")


def test_serve_refuses_bad_and_busy_ports_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        for args in (["--port", "70000"], ["--port", "x"], ["--host", "127.0.0.1", "--port", busy]):
            result = subprocess.run(
                [sys.executable, "-m", "spark.cli", "serve", *args],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 2, args
            lines = [x for x in result.stderr.splitlines() if x.startswith("spark") or "Traceback" in x]
            assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in result.stderr, result.stderr
