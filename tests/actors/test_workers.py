"""Engine runs in real worker processes, through the running system (real clock): the reference figures, progress,
cancel latency with the event loop kept free, a strategy that raises, a worker that dies."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import trio

from spark.config import Settings
from spark.engine.params import Param
from spark.engine.strategy import StrategySpec
from spark.plugin.hookspecs import hookimpl
from spark.plugin.request import RunRequest
from spark.plugin.services import Caller
from spark.system import open_system

ADMIN = Caller(ip="127.0.0.1", user="admin")
DATA = Path(__file__).parent.parent / "data"


def slow(params, ctx) -> None:
    """Sleeps ``seconds`` (a strategy stuck in a long computation), then holds nothing. Writes its process id to
    the file ``pidfile`` first, if given."""
    if params["pidfile"]:
        Path(params["pidfile"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + params["seconds"]
    while time.monotonic() < deadline:
        time.sleep(0.05)
    n = len(ctx.candles)
    ctx.signals(np.zeros(n, bool), np.zeros(n, bool))


def boom(params, ctx) -> None:
    raise ZeroDivisionError("division by zero")


def die(params, ctx) -> None:
    os._exit(3)


class ThrowawayStrategies:
    """Registered by these tests only (passed to the worker processes by the system)."""

    @staticmethod
    @hookimpl
    def register_strategies(register) -> None:
        register(
            StrategySpec(
                name="slow",
                fn=slow,
                params=(
                    Param(name="seconds", type="float", default=20.0, min=0.0, max=60.0),
                    Param(name="pidfile", type="str", default=""),
                ),
            )
        )
        register(StrategySpec(name="boom", fn=boom))
        register(StrategySpec(name="die", fn=die))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA / "GOOG.csv", data / "GOOG.csv")
    return Settings(
        impl="engine",
        evidence_dir=tmp_path / "evidence",
        log_dir=tmp_path / "logs",
        data_dir=data,
        max_concurrent=2,
        queue_size=10,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def worker_pid(pidfile: Path) -> int:
    path = trio.Path(pidfile)
    with trio.fail_after(30):
        while not await path.exists() or not await path.read_text():  # noqa: ASYNC110 - another process writes it
            await trio.sleep(0.02)
    return int(await path.read_text())


def request(system, **body) -> RunRequest:
    body.setdefault("feed", {"name": "synthetic", "args": {"bars": 200}})
    return RunRequest.parse(body, system.plugins)


async def wait_status(system, run_id: str, *statuses: str, seconds: float = 60) -> dict:
    with trio.fail_after(seconds):
        while system.get_run(run_id)["status"] not in statuses:  # noqa: ASYNC110 - polling the read API
            await trio.sleep(0.02)
    return system.get_run(run_id)


async def test_goog_through_the_service_gives_the_reference_figures(settings):
    async with open_system(settings) as system:
        body = {
            "strategy": "sma_cross",
            "params": {"fast": 10, "slow": 30},
            "feed": {"name": "csv", "args": {"path": "GOOG.csv"}},
            "options": {"fee": 0.001, "size": 1},
        }
        run_id = (await system.start(request(system, **body), ADMIN, body))["id"]
        record = await wait_status(system, run_id, "done", "failed")
        assert record["status"] == "done", record["error"]
        stats = (await system.run_summary(run_id))["report"]["stats"]
        assert stats["finalEquity"] == pytest.approx(10743.008410, abs=1e-6)
        assert stats["maxDrawdownPct"] == pytest.approx(1.932090, abs=1e-6)
        assert stats["totalTrades"] == 33
        assert record["stats"] == stats and record["progress"] == 1.0
        assert (record["pair"], record["timeframe"]) == ("GOOG", "1d")  # the candles run, not the request's ETHUSDT
        artifacts = await system.artifacts(run_id)
        assert sorted(a["type"] for a in artifacts) == ["equity_csv", "result", "run", "trades_csv"]
        m = system.metrics
        for kind in ("result", "run"):
            assert m.value("backtest_artifacts_generated_total", {"type": kind}) == 1
        for kind in ("trades_csv", "equity_csv"):  # rendered when downloaded, never written by the service
            assert m.value("backtest_artifacts_generated_total", {"type": kind}) == 0
        path = trio.Path(settings.evidence_dir / "backtest" / f"run_{run_id}.json")
        with trio.fail_after(10):  # the record is rewritten in the background once the run is done
            while (on_disk := json.loads(await path.read_text())["runs"][0])["status"] != "done":  # noqa: ASYNC110
                await trio.sleep(0.02)
        assert on_disk["stats"]["totalTrades"] == 33


async def test_cancel_kills_a_long_run_within_a_second_and_the_loop_stays_free(settings, tmp_path):
    pidfile = tmp_path / "slow.pid"
    async with open_system(settings, extra_plugins=[(ThrowawayStrategies, "throwaway")]) as system:
        params = {"seconds": 20, "pidfile": str(pidfile)}
        run_id = (await system.start(request(system, strategy="slow", params=params), ADMIN, {}))["id"]
        pid = await worker_pid(pidfile)
        assert alive(pid) and pid != os.getpid()
        # the strategy computes in its worker; the loop answers at once meanwhile
        lags = []
        with trio.fail_after(30):
            while system.get_run(run_id)["progress"] < 0.2:
                before = trio.current_time()
                await trio.sleep(0.01)
                lags.append(trio.current_time() - before - 0.01)
        for _ in range(50):
            before = trio.current_time()
            await trio.sleep(0.01)
            lags.append(trio.current_time() - before - 0.01)
        assert system.healthy() and max(lags) < 0.25, max(lags)
        assert system.get_run(run_id)["progress"] == 0.2  # the feed is loaded, the strategy not done
        cancelled_at = trio.current_time()
        assert (await system.cancel(run_id, ADMIN))["status"] == "failed"
        with trio.fail_after(1.0):  # the worker is killed and its slot freed within a second
            while alive(pid) or system.statistics()["executing"]:  # noqa: ASYNC110 - polling
                await trio.sleep(0.01)
        latency = trio.current_time() - cancelled_at
        assert latency < 1.0
        record = system.get_run(run_id)
        assert (record["status"], record["error"]) == ("failed", "cancelled")
        leftovers = [p.name for p in (settings.evidence_dir / "backtest").iterdir() if not p.name.startswith("run_")]
        assert leftovers == []  # a cancelled run leaves no result files, not even temp files
        # the service goes on: a real run after the kill completes
        after = (await system.start(request(system), ADMIN, {}))["id"]
        assert (await wait_status(system, after, "done", "failed"))["status"] == "done"


async def test_a_raising_strategy_and_a_dying_worker_fail_their_runs_only(settings):
    async with open_system(settings, extra_plugins=[(ThrowawayStrategies, "throwaway")]) as system:
        raised = (await system.start(request(system, strategy="boom"), ADMIN, {}))["id"]
        died = (await system.start(request(system, strategy="die"), ADMIN, {}))["id"]
        record = await wait_status(system, raised, "done", "failed")
        assert (record["status"], record["error"]) == (
            "failed",
            "strategy 'boom' failed: ZeroDivisionError: division by zero",
        )
        record = await wait_status(system, died, "done", "failed")
        assert record["status"] == "failed" and record["error"].startswith("the worker process died")
        fine = (await system.start(request(system), ADMIN, {}))["id"]
        assert (await wait_status(system, fine, "done", "failed"))["status"] == "done"
        assert system.healthy()


async def test_shutdown_kills_engine_runs_in_flight_and_records_them(settings, tmp_path):
    pidfile = tmp_path / "slow.pid"
    async with open_system(settings, extra_plugins=[(ThrowawayStrategies, "throwaway")]) as system:
        params = {"seconds": 30, "pidfile": str(pidfile)}
        ids = [
            (await system.start(request(system, strategy="slow", params=params), ADMIN, {}))["id"] for _ in range(3)
        ]  # two in workers, one queued
        pid = await worker_pid(pidfile)
        closing = trio.current_time()
    assert trio.current_time() - closing < 5 and not alive(pid)
    for run_id in ids:
        record = json.loads((settings.evidence_dir / "backtest" / f"run_{run_id}.json").read_text())["runs"][0]
        assert (record["status"], record["error"]) == ("failed", "interrupted")
