"""One run, three doors: the CLI, the Python API and the service give the same fingerprint and the same evidence
bytes (defect 5: the fingerprint hashed `size=1` and `1.0`, and an option left at its default or given, apart)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

import spark

sys.path.insert(0, str(Path(__file__).parent.parent / "api"))
from apikit import ServerProcess


def cli_run(tmp_path: Path, data_dir: Path, *flags: str) -> tuple[str, Path]:
    evidence = tmp_path / "cli-evidence"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "spark.cli",
            "backtest",
            "--data",
            str(data_dir / "GOOG.csv"),
            "--fee",
            "0.001",
            "--evidence-dir",
            str(evidence),
            "--json",
            "--csv",
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SPARK_")},
    )
    doc = json.loads(out.stdout)
    return doc["metadata"]["fingerprint"], evidence / "backtest" / doc["id"]


async def wait_done(client: httpx.AsyncClient, run_id: str) -> dict:
    with trio.fail_after(120):
        while True:
            detail = (await client.get(f"/api/backtest/{run_id}")).json()
            if detail["status"] in ("done", "failed"):
                return detail
            await trio.sleep(0.1)


def test_the_python_api_gives_one_fingerprint_for_one_run(data_dir: Path) -> None:
    candles = spark.load_candles(data_dir / "GOOG.csv")
    given = [
        {"params": {"fast": 10, "slow": 30}, "size": 1},
        {"params": {"fast": 10.0, "slow": 30}, "size": 1.0},
        {"params": {}, "size": None, "cash": 10_000},  # defaults left out, and the default sizing (1 unit)
        {"params": {"fast": 10}, "size": 1, "slippage_bps": 0, "fill": "next_open", "margin": False},
    ]
    results = [spark.run_backtest(candles, "sma_cross", g.pop("params"), fee=0.001, **g) for g in given]
    assert len({r.metadata["fingerprint"] for r in results}) == 1
    assert len({r.metadata["orders_hash"] for r in results}) == 1
    other = spark.run_backtest(candles, "sma_cross", {"fast": 10, "slow": 31}, fee=0.001)
    assert other.metadata["fingerprint"] != results[0].metadata["fingerprint"]  # a different run is told apart


@pytest.mark.slow
async def test_cli_python_api_and_service_agree_on_fingerprint_and_csv_bytes(tmp_path: Path, data_dir: Path) -> None:
    api = spark.run_backtest(spark.load_candles(data_dir / "GOOG.csv"), "sma_cross", {}, fee=0.001, size=1.0)
    cli_fp, cli_prefix = await trio.to_thread.run_sync(cli_run, tmp_path, data_dir)

    served_data = tmp_path / "data"
    served_data.mkdir()
    shutil.copy(data_dir / "GOOG.csv", served_data / "GOOG.csv")
    env = {
        "ADMIN_TOKEN": "tok",
        "BACKTEST_IMPL": "engine",
        "SPARK_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
        "SPARK_DATA_DIR": str(served_data),
        "SPARK_STATE_DIR": str(tmp_path / "state"),
    }
    server = ServerProcess(tmp_path, env)
    url = await server.start()
    body = {
        "strategy": "sma_cross",
        "params": {"fast": 10},
        "feed": {"name": "csv", "args": {"path": "GOOG.csv"}},
        "options": {"fee": 0.001, "size": 1},
    }
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            run_id = (await client.post("/api/backtest/start", json=body, headers={"x-admin-token": "tok"})).json()[
                "id"
            ]
            detail = await wait_done(client, run_id)
            artifacts = {
                a["type"]: a["url"] for a in (await client.get(f"/api/backtest/{run_id}/artifacts")).json()["artifacts"]
            }
            served_csv = {kind: (await client.get(artifacts[kind])).content for kind in ("trades_csv", "equity_csv")}
    finally:
        server.kill()
    assert detail["status"] == "done", detail["error"]
    assert detail["metadata"]["fingerprint"] == cli_fp == api.metadata["fingerprint"]
    assert detail["metadata"]["ordersHash"] == api.metadata["orders_hash"]
    for kind, suffix in (("trades_csv", "_trades.csv"), ("equity_csv", "_equity.csv")):
        assert served_csv[kind] == await trio.Path(f"{cli_prefix}{suffix}").read_bytes(), kind
