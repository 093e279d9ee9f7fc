"""`spark.server.run_server` in this process, on a free port: SIGHUP switches the write routes off and on while
reads and runs go on; SIGTERM stops it gracefully with the runs in flight recorded."""

from __future__ import annotations

import functools
import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import httpx
import trio

from spark.config import Settings
from spark.server import run_server

TOKEN = {"x-admin-token": "tok"}


async def start_status(client: httpx.AsyncClient, expected: int) -> httpx.Response:
    """POST a start until it answers ``expected`` (a reload is applied by the signal task, a moment later)."""
    with trio.fail_after(5):
        while True:
            response = await client.post("/api/backtest/start", json={"notes": "hup"}, headers=TOKEN)
            if response.status_code == expected:
                return response
            await trio.sleep(0.02)


async def test_sighup_reloads_and_sigterm_stops_gracefully(tmp_path: Path):
    settings = Settings(
        impl="mock",
        mock_delay_s=60,
        port=0,
        admin_token="tok",
        evidence_dir=tmp_path / "evidence",
        log_dir=tmp_path / "logs",
        data_dir=tmp_path / "data",
        max_concurrent=1,
    )
    config = {"now": settings}
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(functools.partial(run_server, settings, reload_settings=lambda: config["now"]))
        async with httpx.AsyncClient(base_url=urls[0], timeout=10) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            first = (await start_status(client, 201)).json()["id"]

            config["now"] = replace(settings, disabled_plugins=("write",))
            os.kill(os.getpid(), signal.SIGHUP)
            refused = await start_status(client, 404)
            assert refused.headers["content-type"].startswith("application/json")
            listed = {r["id"]: r for r in (await client.get("/api/backtest")).json()["runs"]}
            assert listed[first]["status"] == "running"  # reads and runs go on (starts sent before the reload
            # took effect may have been accepted too: the reload rescans the plugins in a thread first)

            config["now"] = settings
            os.kill(os.getpid(), signal.SIGHUP)
            second = (await start_status(client, 201)).json()["id"]

            # an SSE client connected at shutdown sees its stream end instead of holding the server up
            async with client.stream("GET", "/api/backtest/stream") as stream:
                lines = stream.aiter_lines()
                while not (await lines.__anext__()).startswith("data:"):
                    pass  # the snapshot arrived: the stream is live
                stopping = trio.current_time()
                os.kill(os.getpid(), signal.SIGTERM)
                with trio.fail_after(5):
                    async for _ in lines:
                        pass
    assert trio.current_time() - stopping < 3  # the whole stop, server included
    # run_server returned: every accepted run recorded, nothing lost (starts sent while the first reload was
    # being applied were accepted too, each audited)
    audit = [
        json.loads(line) for path in (tmp_path / "logs" / "audit").iterdir() for line in path.read_text().splitlines()
    ]
    accepted = [x["id"] for x in audit if x["success"]]
    assert accepted[0] == first and accepted[-1] == second
    folder = tmp_path / "evidence" / "backtest"
    for run_id in accepted:
        record = json.loads((folder / f"run_{run_id}.json").read_text())["runs"][0]
        assert (record["status"], record["error"]) == ("failed", "interrupted")
    assert sorted(p.name for p in folder.glob("run_*.json")) == sorted(f"run_{run_id}.json" for run_id in accepted)
