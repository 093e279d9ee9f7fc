"""The scheduler with the simulator, the auditor and a scripted runner, under autojump_clock: exact statuses and
times, and the one rule of the lifecycle: decide once, write the verdict, then answer with it."""

from __future__ import annotations

import json

import pytest
import trio
from actor_harness import EPOCH_MS, ScriptedRunner, wired

from spark.errors import Conflict, NotFound, SparkError, Unavailable


def on_disk(tmp_path, run_id: str) -> dict:
    return json.loads((tmp_path / "backtest" / f"run_{run_id}.json").read_text())["runs"][0]


async def outcome(call) -> tuple[str, object]:
    """("ok", answer) or ("error", the SparkError raised): what a client would be told."""
    try:
        return "ok", await call
    except SparkError as exc:
        return "error", exc


def audited_as_answered(line: dict, told: tuple[str, object]) -> bool:
    """An audit line says what the client was told: success with an answer, failure with that error."""
    kind, value = told
    if kind == "ok":
        return line["success"] is True and "error" not in line
    return line["success"] is False and line["error"] == f"{value.code}: {value.message}"


async def test_runs_queue_behind_the_concurrency_limit(autojump_clock, tmp_path):
    runner = ScriptedRunner(default_s=10.0)
    async with wired(tmp_path, runner) as h:
        answers = [await h.submit(n) for n in range(3)]
        assert answers[0] == {"id": h.ids[0], "status": "queued", "startedAt": EPOCH_MS}
        assert h.ids[0].startswith(f"bt-{EPOCH_MS}-")
        await trio.sleep(25)
    # two at once; the third starts when the first slot frees, at t=10
    assert h.statuses(0) == [(0, "queued"), (0, "running"), (10, "done")]
    assert h.statuses(1) == [(0, "queued"), (0, "running"), (10, "done")]
    assert h.statuses(2) == [(0, "queued"), (10, "running"), (20, "done")]
    assert [(n, round(t - h.t0, 6)) for n, t in runner.calls] == [(0, 0), (1, 0), (2, 10)]
    record = on_disk(tmp_path, h.ids[2])
    assert record["status"] == "done" and record["progress"] == 1.0 and record["stats"] == {"totalTrades": 1}
    assert record["finishedAt"] == EPOCH_MS + 20_000  # now_ms follows the mock clock
    assert (record["pair"], record["timeframe"], record["bars"]) == ("SYNTH", "4h", 10)  # the candles run
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
    assert [(line["action"], line["id"], line["success"]) for line in h.audit()] == [
        ("start", h.ids[n], True) for n in range(3)
    ]


async def test_a_full_queue_is_refused_audited_as_refused_and_frees_with_a_cancel(autojump_clock, tmp_path):
    async with wired(tmp_path, ScriptedRunner(default_s=100.0), max_concurrent=1, queue_size=2) as h:
        for n in range(3):  # one running, two waiting
            await h.submit(n)
        with pytest.raises(Unavailable) as caught:
            await h.submit(3)
        assert caught.value.status == 503 and caught.value.retry_after >= 1
        assert len(h.store) == 3
        await h.cancel(1)  # a slot frees
        assert (await h.submit(3))["status"] == "queued"
    lines = h.audit()
    assert [(line["action"], line["success"]) for line in lines] == [
        ("start", True),
        ("start", True),
        ("start", True),
        ("start", False),
        ("cancel", True),
        ("start", True),
    ]
    assert lines[3]["id"] is None and lines[3]["error"] == f"unavailable: {caught.value.message}"


async def test_cancel_queued_and_running_runs(autojump_clock, tmp_path):
    async with wired(tmp_path, ScriptedRunner(default_s=10.0), max_concurrent=1) as h:
        await h.submit(0)
        await h.submit(1)
        await trio.sleep(2)
        assert await h.cancel(1) == {"ok": True, "id": h.ids[1], "status": "failed"}  # queued
        assert await h.cancel(0) == {"ok": True, "id": h.ids[0], "status": "failed"}  # running
        await h.submit(2)  # the slot of the cancelled run is free again
        await trio.sleep(11)
    assert h.statuses(0) == [(0, "queued"), (0, "running"), (2, "failed")]
    assert h.statuses(1) == [(0, "queued"), (2, "failed")]
    assert h.statuses(2) == [(2, "queued"), (2, "running"), (12, "done")]
    for n in (0, 1):
        record = on_disk(tmp_path, h.ids[n])
        assert (record["status"], record["error"], record["finishedAt"]) == ("failed", "cancelled", EPOCH_MS + 2000)
    assert h.runner.completed == [2]  # run 0 was killed, run 1 never started
    assert [n for n, _ in h.runner.calls] == [0, 2]
    assert h.metrics.value("backtest_runs_total", {"status": "failed"}) == 2
    assert h.metrics.value("backtest_duration_seconds_count") == 2  # run 0 ran 2 s, run 2 ran 10 s


async def test_cancel_is_idempotent_and_refuses_done_and_unknown_runs(autojump_clock, tmp_path):
    async with wired(tmp_path, ScriptedRunner(default_s=1.0)) as h:
        await h.submit(0)
        await h.submit(1)
        await h.cancel(0)
        changes = len(h.changes)
        assert await h.cancel(0) == {"ok": True, "id": h.ids[0], "status": "failed"}
        assert len(h.changes) == changes  # nothing changed
        await trio.sleep(2)
        with pytest.raises(Conflict):
            await h.cancel(1)
        with pytest.raises(NotFound):
            await h.cancel("bt-1700000000009-00000009")
    assert h.metrics.value("backtest_runs_total", {"status": "failed"}) == 1
    lines = [line for line in h.audit() if line["action"] == "cancel"]
    assert [(line["success"], line.get("detail")) for line in lines] == [
        (True, None),
        (True, {"changed": False}),
        (False, None),
        (False, None),
    ]
    assert lines[2]["error"].startswith("conflict: ") and lines[3]["error"].startswith("not_found: ")


async def test_a_run_cancelled_as_the_run_before_it_finishes_never_starts(autojump_clock, tmp_path):
    """Defect 1: with one slot, a cancel of the queued run arriving at the instant the running one finishes used
    to slip between 'running' being published and the launch: the cancel was ignored and the job ran to its end
    while its record said cancelled. Whatever the order of the finish and the cancel in the inbox, the cancelled
    run must not run to its end, and the slot must be free for the next."""
    runner = ScriptedRunner({0: [("sleep", 10.0)], 1: [("sleep", 5.0)], 2: [("sleep", 1.0)]})
    async with wired(tmp_path, runner, max_concurrent=1) as h:
        await h.submit(0)
        await h.submit(1)
        await trio.sleep_until(h.t0 + 10.0)  # run 0 finishes now
        answer = await h.cancel(1)
        await h.submit(2)
        await trio.sleep(20)
    assert answer == {"ok": True, "id": h.ids[1], "status": "failed"}
    assert 1 not in runner.completed and runner.completed == [0, 2]
    assert on_disk(tmp_path, h.ids[1])["error"] == "cancelled"
    assert h.statuses(2) == [(10, "queued"), (10, "running"), (11, "done")]  # the slot was free at once
    assert h.metrics.value("backtest_active_runs") == 0


async def test_a_run_finishing_while_its_cancel_is_audited_ends_cancelled(autojump_clock, tmp_path):
    """The cancel is decided when it arrives; a finish reported while its audit line is written is held and the
    cancel wins: the answer, the audit line and the record agree."""
    runner = ScriptedRunner({0: [("sleep", 1.0)]})
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        await trio.sleep(0.999)
        told = await outcome(h.cancel(0))
        await trio.sleep(2)
    assert told == ("ok", {"ok": True, "id": h.ids[0], "status": "failed"})
    [line] = [line for line in h.audit() if line["action"] == "cancel"]
    assert audited_as_answered(line, told)
    record = on_disk(tmp_path, h.ids[0])
    assert (record["status"], record["error"], record["stats"]) == ("failed", "cancelled", None)


async def test_a_record_that_cannot_be_written_refuses_the_start(autojump_clock, tmp_path):
    """Defect 2/9: a failed record write used to answer 503 while the run stayed queued and ran, audited as a
    success. Now the refusal is the verdict: audited as one, answered 503, nothing queued, nothing run."""
    (tmp_path / "backtest").write_text("not a folder")  # every record write fails with an OSError
    runner = ScriptedRunner(default_s=1.0)
    async with wired(tmp_path, runner) as h:
        told = await outcome(h.submit(0))
        await trio.sleep(5)
    kind, error = told
    assert kind == "error" and isinstance(error, Unavailable) and "cannot write evidence" in error.message
    [line] = h.audit()
    assert line["action"] == "start" and line["id"] is None and audited_as_answered(line, told)
    assert len(h.store) == 0 and runner.calls == [] and h.changes == []
    assert h.metrics.value("backtest_runs_total", {"status": "queued"}) == 0


async def test_an_audit_that_cannot_be_written_changes_nothing(autojump_clock, tmp_path):
    """The audit is the last word before the answer: if it cannot be written, the start does not happen (its
    record is taken back) and the cancel is not carried out."""
    runner = ScriptedRunner(default_s=5.0)
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        (tmp_path / "audit").rename(tmp_path / "audit-moved")
        (tmp_path / "audit").write_text("not a folder")  # the auditor cannot reopen its day file
        told_start = await outcome(h.submit(1))
        told_cancel = await outcome(h.cancel(0))
        await trio.sleep(10)
    assert told_start[0] == "error" and isinstance(told_start[1], Unavailable)
    assert told_cancel[0] == "error" and isinstance(told_cancel[1], Unavailable)
    assert [p.name for p in (tmp_path / "backtest").glob("run_*.json")] == [f"run_{h.ids[0]}.json"]
    assert len(h.store) == 1 and runner.completed == [0]  # run 0 ran to its end: the cancel did not happen
    assert on_disk(tmp_path, h.ids[0])["status"] == "done"


async def test_every_start_and_cancel_is_audited_as_answered(autojump_clock, tmp_path):
    """For each outcome the scheduler decides (accepted, queue full, cancelled queued, cancelled running, again,
    done, unknown), the audit line holds exactly what the client was told, in the order they were told."""
    async with wired(tmp_path, ScriptedRunner(default_s=3.0), max_concurrent=1, queue_size=2) as h:
        told = [await outcome(h.submit(n)) for n in range(4)]  # one running, two waiting, one refused
        told.append(await outcome(h.cancel(1)))  # queued
        told.append(await outcome(h.cancel(1)))  # again
        told.append(await outcome(h.cancel(0)))  # running
        await trio.sleep(5)  # run 2 runs and is done
        told.append(await outcome(h.cancel(2)))  # done
        told.append(await outcome(h.cancel("bt-1700000000999-0000abcd")))  # unknown
    lines = h.audit()
    assert len(lines) == len(told) == 9
    assert all(audited_as_answered(line, answer) for line, answer in zip(lines, told, strict=True))
    assert [t[0] for t in told] == ["ok", "ok", "ok", "error", "ok", "ok", "ok", "error", "error"]
    assert [line["action"] for line in lines] == ["start"] * 4 + ["cancel"] * 5


async def test_a_failing_strategy_fails_its_run_only(autojump_clock, tmp_path):
    runner = ScriptedRunner({0: [("sleep", 1), ("raise", ZeroDivisionError("division by zero"))]}, default_s=3.0)
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        await h.submit(1)
        await trio.sleep(5)
    assert h.statuses(0) == [(0, "queued"), (0, "running"), (1, "failed")]
    assert h.statuses(1) == [(0, "queued"), (0, "running"), (3, "done")]
    assert on_disk(tmp_path, h.ids[0])["error"] == "ZeroDivisionError: division by zero"


async def test_the_market_of_the_candles_replaces_the_requests_once_loaded(autojump_clock, tmp_path):
    """Defect 3: the record named the request's pair and timeframe (ETHUSDT 4h by default) whatever the feed
    read. It now shows the candles' market from the moment they are loaded, and keeps it to the end."""
    runner = ScriptedRunner({0: [("sleep", 1), ("market", ("GOOG", "1d", 2148)), ("sleep", 1)]})
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        assert (h.store.get(h.ids[0]).pair, h.store.get(h.ids[0]).timeframe) == ("ETHUSDT", "4h")
        await trio.sleep(1.5)
        assert on_disk(tmp_path, h.ids[0])["pair"] == "GOOG"  # written when it changes, not at the end only
        assert on_disk(tmp_path, h.ids[0])["bars"] == 2148
        await trio.sleep(1)
    assert [(c[2]) for c in h.changes if c[1] == h.ids[0]] == ["queued", "running", "running", "done"]


async def test_progress_is_published_not_persisted_each_time(autojump_clock, tmp_path):
    runner = ScriptedRunner({0: [("sleep", 1), ("progress", 0.25), ("sleep", 1), ("progress", 0.75), ("sleep", 1)]})
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        await trio.sleep(1.5)
        assert on_disk(tmp_path, h.ids[0])["progress"] == 0.0
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
        {0: [step for pair in zip(steps, [("sleep", 0.1)] * len(steps), strict=True) for step in pair]}
    )
    async with wired(tmp_path, runner) as h:
        await h.submit(0)
        await trio.sleep(1.55)
        assert h.store.get(h.ids[0]).progress == 0.5  # kept at once ...
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
        record = on_disk(tmp_path, h.ids[n])
        assert (record["status"], record["error"]) == ("failed", "interrupted")
    assert [h.statuses(n)[-1] for n in range(5)] == [(3, "failed")] * 5
    assert h.metrics.value("backtest_active_runs") == 0
    assert h.metrics.value("backtest_runs_total", {"status": "failed"}) == 5
    assert h.runner.completed == []


async def test_a_delete_is_decided_audited_then_carried_out(autojump_clock, tmp_path):
    """Only ended runs are deleted: the record goes first, then the result files; the run leaves the list and the
    stream says so; a queued or running run is a Conflict, an unknown one NotFound; each verdict audited as told."""
    async with wired(tmp_path, ScriptedRunner(default_s=5.0), max_concurrent=1) as h:
        await h.submit(0)
        await h.submit(1)
        await trio.sleep(6)  # run 0 done, run 1 running
        folder = tmp_path / "backtest"
        (folder / f"{h.ids[0]}.json").write_text("{}")  # a result file beside the record
        told = [await outcome(h.delete(1)), await outcome(h.delete(0)), await outcome(h.delete(0))]
        await trio.sleep(0.1)
    assert isinstance(told[0][1], Conflict) and told[1] == ("ok", {"ok": True, "id": h.ids[0], "deleted": True})
    assert isinstance(told[2][1], NotFound)
    assert h.store.get(h.ids[0]) is None and not list(folder.glob(f"*{h.ids[0]}*"))
    assert (h.ids[0], "deleted") in [(c[1], c[2]) for c in h.changes]  # published: streams drop it
    lines = [line for line in h.audit() if line["action"] == "delete"]
    assert [audited_as_answered(line, t) for line, t in zip(lines, told, strict=True)] == [True, True, True]
