"""``spark dev fake-exchange``: a real process serving the fake, printing the variables that point Spark at it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import trio
import trio_websocket


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "spark.cli", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


async def test_fake_exchange_command_serves_rest_and_websocket() -> None:
    proc = spawn("dev", "fake-exchange", "--port", "0", "--scenario", "stall")
    try:
        lines = [await trio.to_thread.run_sync(proc.stdout.readline) for _ in range(4)]
        assert lines[0].startswith("fake BTCTurk (stall, speed 1x): REST http://127.0.0.1:")
        exports = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines[1:])
        assert set(exports) == {"SPARK_BTCTURK_REST_URL", "SPARK_BTCTURK_GRAPH_URL", "SPARK_BTCTURK_WS_URL"}
        async with httpx.AsyncClient(base_url=exports["SPARK_BTCTURK_REST_URL"]) as http:
            info = (await http.get("/api/v2/server/exchangeinfo")).json()
        assert "BTCTRY" in {s["name"] for s in info["data"]["symbols"]}
        async with trio_websocket.open_websocket_url(exports["SPARK_BTCTURK_WS_URL"]) as ws:
            assert (await ws.get_message()).startswith("[991,")
    finally:
        proc.send_signal(signal.SIGINT)
        await trio.to_thread.run_sync(proc.wait, 10)
        proc.stdout.close()
        proc.stderr.close()
