"""The scheduler with the simulator and a scripted runner, under autojump_clock: exact statuses and times."""

from __future__ import annotations

import json

import pytest
import trio
from actor_harness import ScriptedRunner, run_id, wired

from spark.errors import Conflict, NotFound, Unavailable


def on_disk(tmp_path, n: int) -> dict:
    return json.loads((tmp_path / "backtest" / f"run_{run_id(n)}.json").read_text())["runs"][0]


async def test_runs_queue_behind_the_concurrency_limit(autojump_clock, tmp_path):
    runner = ScriptedRunner(default_s=10.0)
    async with wired(tmp_path, runner) as h:
        answers = [await h.submit(n) for n in range(3)]
        assert answers[0] == {"id": run_id(0), "status": "queued", "startedAt": 1_700_000_000_000}
        await trio.sleep(25)
    # two at once; the third starts when the first slot frees, at t=10
    assert h.statuses(0) == [(0, "queued"), (0, "running"), (10, "done")]
    assert h.statuses(1) == [(0, "queued"), (0, "running"), (10, "done")]
    assert h.statuses(2) == [(0, "queued"), (10, "running"), (20, "done")]
    assert [(rid, round(t - h.t0, 6)) for rid, t in runner.calls] == [(run_id(0), 0), (run_id(1), 0), (run_id(2), 10)]
    record = on_disk(tmp_path, 2)
    assert record["status"] == "done" and record["progress"] == 1.0 and record["stats"] == {"totalTrades": 1}
    assert record["finishedAt"] == 20_000  # now_ms follows the mock clock
    m = h.metrics
    assert [m.value("backtest_runs_total", {"status": s}) for s in ("queued", "running", "done", "failed")] == [
        3,
        3,
        3,
        0,
    ]
    assert m.value("backtest_active_runs") == 0
    assert m.value("backtest_duration_seconds_count") == 3
    assert m.value("backtest_duration_seconds_sum") == pytest.approx(30.0)
    assert m.value("backtest_artifacts_generated_total", {"type": "run"}) == 3


async def test_a_full_queue_answers_unavailable_with_retry_after(autojump_clock, tmp_path):
    async with wired(tmp_path, ScriptedRunner(default_s=100.0), max_concurrent=1, queue_size=2) as h:
        for n in range(3):  # one running, two waiting
            await h.submit(n)
        with pytest.raises(Unavailable) as caught:
            await h.submit(3)
        assert caught.value.status == 503 and caught.value.retry_after >= 1
        assert h.store.get(run_id(3)) is None
        await h.cancel(1)  # a slot frees
        assert (await h.submit(3))["status"] == "queued"


async def test_cancel_queued_and_running_runs(autojump_clock, tmp_path):
    async with wired(tmp_path, ScriptedRunner(default_s=10.0), max_concurrent=1) as h:
        await h.submit(0)
        await h.submit(1)
        await trio.sleep(2)
        assert await h.cancel(1) == {"ok": True, "id": run_id(1), "status": "failed"}  # queued
        assert await h.cancel(0) == {"ok": True, "id": run_id(0), "status": "failed"}  # running
        await h.submit(2)  # the slot of the cancelled run is free again
        await trio.sleep(11)
    assert h.statuses(0) == [(0, "queued"), (0, "running"), (2, "failed")]
    assert h.statuses(1) == [(0, "queued"), (2, "failed")]
    assert h.statuses(2) == [(2, "queued"), (2, "running"), (12, "done")]
    for n in (0, 1):
        record = on_disk(tmp_path, n)
        assert (record["status"], record["error"], record["finishedAt"]) == ("failed", "cancelled", 2000)
    assert h.metrics.value("backtest_runs_total", {"status": "failed"}) == 2
    assert h.metrics.value("backtest_duration_seconds_count") == 2  # run 0 ran 2 s, run 2 ran 10 s


async def test_cancel_is_idempotent_and_refuses_done_and_unknown_runs(autojump_clock, tmp_path):
    async with wired(tmp_path, ScriptedRunner(default_s=1.0)) as h:
        await h.submit(0)
        await h.submit(1)
        await h.cancel(0)
        changes = len(h.changes)
        assert await h.cancel(0) == {"ok": True, "id": run_id(0), "status": "failed"}
        assert len(h.changes) == changes  # nothing changed
        await trio.sleep(2)
        with pytest.raises(Conflict):
            await h.cancel(1)
        with pytest.raises(NotFound):
            await h.cancel(9)
    assert h.metrics.value("backtest_runs_total", {"status": "failed"}) == 1


async def test_a_failing_strategy_fails_its_run_only(autojump_clock, tmp_path):
    runner = ScriptedRunner(
        {run_id(0): [("sleep", 1), ("raise", ZeroDivisionError("division by zero"))]}, default_s=3.0
    )
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        await h.submit(1)
        await trio.sleep(5)
    assert h.statuses(0) == [(0, "queued"), (0, "running"), (1, "failed")]
    assert h.statuses(1) == [(0, "queued"), (0, "running"), (3, "done")]
    assert on_disk(tmp_path, 0)["error"] == "ZeroDivisionError: division by zero"


async def test_progress_is_published_not_persisted_each_time(autojump_clock, tmp_path):
    runner = ScriptedRunner(
        {run_id(0): [("sleep", 1), ("progress", 0.25), ("sleep", 1), ("progress", 0.75), ("sleep", 1)]}
    )
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        await trio.sleep(1.5)
        assert on_disk(tmp_path, 0)["progress"] == 0.0
        await trio.sleep(2)
    assert [(round(t - h.t0, 6), status, p) for t, _, status, p, _ in h.changes] == [
        (0, "queued", 0.0),
        (0, "running", 0.0),
        (1, "running", 0.25),
        (2, "running", 0.75),
        (3, "done", 1.0),
    ]


async def test_progress_is_published_at_most_every_quarter_second(autojump_clock, tmp_path):
    steps = (
        [("sleep", 1)]
        + [("progress", p / 10) for p in range(1, 10)]
        + [("sleep", 0.1), ("progress", 0.95), ("sleep", 1)]
    )
    runner = ScriptedRunner(
        {run_id(0): [step for pair in zip(steps, [("sleep", 0.1)] * len(steps), strict=True) for step in pair]}
    )
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        await trio.sleep(1.55)
        assert h.store.get(run_id(0))["progress"] == 0.5  # kept at once ...
        await trio.sleep(5)
    # ... published no more than every 0.25 s: reports come every 0.1 s, so every third one goes out
    assert [(round(t - h.t0, 6), p) for t, _, status, p, _ in h.changes if status == "running"] == [
        (0, 0.0),
        (1.1, 0.1),
        (1.4, 0.4),
        (1.7, 0.7),
        (2.2, 0.95),
    ]
    assert h.changes[-1][2:4] == ("done", 1.0)


async def test_shutdown_records_every_run_in_flight(autojump_clock, tmp_path):
    async with wired(tmp_path, ScriptedRunner(default_s=100.0), max_concurrent=2, queue_size=5) as h:
        for n in range(5):
            await h.submit(n)
        await trio.sleep(3)
    for n in range(5):
        record = on_disk(tmp_path, n)
        assert (record["status"], record["error"]) == ("failed", "interrupted")
    assert [h.statuses(n)[-1] for n in range(5)] == [(3, "failed")] * 5
    assert h.metrics.value("backtest_active_runs") == 0
    assert h.metrics.value("backtest_runs_total", {"status": "failed"}) == 5
