"""The whole system through `Services` (what the HTTP layer sees), on real files, in mock mode, real clock."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from spark.config import Settings
from spark.engine.strategy import StrategySpec
from spark.errors import Conflict, NotFound, Unavailable
from spark.plugin.hookspecs import hookimpl
from spark.plugin.request import RunRequest
from spark.plugin.services import Caller
from spark.system import ActorDied, open_system

ADMIN = Caller(ip="127.0.0.1", user="admin")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        impl="mock",
        mock_delay_s=0.3,
        evidence_dir=tmp_path / "evidence",
        log_dir=tmp_path / "logs",
        data_dir=tmp_path / "data",
        max_concurrent=2,
        queue_size=10,
        admin_token="tok",
    )


def audit_lines(settings: Settings) -> list[dict]:
    lines = []
    for path in sorted(settings.audit_dir.glob("backtest_*.log")):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def run_file(settings: Settings, run_id: str) -> dict:
    return json.loads((settings.evidence_dir / "backtest" / f"run_{run_id}.json").read_text())["runs"][0]


async def wait_for(predicate) -> None:
    """Poll the public read API, as a client would, for at most 5 s."""
    with trio.fail_after(5):
        while not predicate():  # noqa: ASYNC110 - polling a read API, not waiting on an internal event
            await trio.sleep(0.01)


async def test_start_is_audited_queued_on_disk_and_runs_to_done(settings):
    async with open_system(settings) as system:
        assert system.healthy()
        answer = await system.start(RunRequest(notes="smoke"), ADMIN, {"notes": "smoke"})
        run_id = answer["id"]
        assert answer == {"id": run_id, "status": "queued", "startedAt": answer["startedAt"]}
        assert run_file(settings, run_id)["id"] == run_id  # on disk before the answer
        [line] = audit_lines(settings)  # audited before the answer
        assert {k: line[k] for k in ("action", "ip", "user", "id", "payload", "success")} == {
            "action": "start",
            "ip": "127.0.0.1",
            "user": "admin",
            "id": run_id,
            "payload": {"notes": "smoke"},
            "success": True,
        }
        await wait_for(lambda: system.get_run(run_id)["status"] == "done")
        record = system.get_run(run_id)
        assert (record["impl"], record["notes"], record["progress"], record["error"]) == ("mock", "smoke", 1.0, None)
        assert record["feed"] == {"name": "synthetic", "args": {}} and record["finishedAt"] >= record["startedAt"]
        await wait_for(lambda: run_file(settings, run_id)["status"] == "done")  # written in the background
        assert (await system.list_runs()) == {"runs": [record], "total": 1}
        assert [a["type"] for a in await system.artifacts(run_id)] == ["run"]
        assert await system.artifact_path(run_id, f"run_{run_id}.json") == settings.evidence_dir / "backtest" / (
            f"run_{run_id}.json"
        )
        assert await system.artifact_path(run_id, "../../etc/passwd") is None
        m = system.metrics
        assert [m.value("backtest_runs_total", {"status": s}) for s in ("queued", "running", "done", "failed")] == [
            1,
            1,
            1,
            0,
        ]
        assert m.value("backtest_enqueue_latency_seconds_count") == 1
    assert not system.healthy()


async def test_cancel_is_audited_every_time_and_idempotent(settings):
    async with open_system(replace(settings, mock_delay_s=30)) as system:
        run_id = (await system.start(RunRequest(), ADMIN, {}))["id"]
        assert await system.cancel(run_id, ADMIN) == {"ok": True, "id": run_id, "status": "failed"}
        assert await system.cancel(run_id, ADMIN) == {"ok": True, "id": run_id, "status": "failed"}
        with pytest.raises(NotFound):
            await system.cancel("bt-1000000000000-00000000", ADMIN)
        record = run_file(settings, run_id)
        assert (record["status"], record["error"]) == ("failed", "cancelled")
    lines = audit_lines(settings)
    assert [(x["action"], x["id"], x["success"], x.get("error")) for x in lines] == [
        ("start", run_id, True, None),
        ("cancel", run_id, True, None),
        ("cancel", run_id, True, None),
        ("cancel", "bt-1000000000000-00000000", False, "not_found: no run bt-1000000000000-00000000"),
    ]


async def test_a_done_run_cannot_be_cancelled(settings):
    async with open_system(replace(settings, mock_delay_s=0.05)) as system:
        run_id = (await system.start(RunRequest(), ADMIN, {}))["id"]
        await wait_for(lambda: system.get_run(run_id)["status"] == "done")
        with pytest.raises(Conflict):
            await system.cancel(run_id, ADMIN)
    assert audit_lines(settings)[-1]["success"] is False


async def test_no_audit_no_mutation(settings):
    settings.log_dir.mkdir(parents=True)
    settings.audit_dir.write_text("a file where the audit folder should be")
    async with open_system(settings) as system:
        with pytest.raises(Unavailable) as caught:
            await system.start(RunRequest(), ADMIN, {})
        assert caught.value.status == 503
        assert (await system.list_runs()) == {"runs": [], "total": 0}
        assert not (settings.evidence_dir / "backtest").exists() or not any(
            (settings.evidence_dir / "backtest").iterdir()
        )
        assert system.healthy()


async def test_a_start_or_cancel_cut_short_by_its_caller_still_ends_whole(settings):
    async with open_system(replace(settings, mock_delay_s=30, max_concurrent=1, queue_size=1)) as system:
        with trio.move_on_after(0):  # the client hung up at once
            await system.start(RunRequest(), ADMIN, {})
        [record] = (await system.list_runs())["runs"]
        with trio.move_on_after(0):
            await system.cancel(record["id"], ADMIN)
        assert system.get_run(record["id"])["error"] == "cancelled"
        await system.start(RunRequest(), ADMIN, {})  # no queue slot was lost on the way
        await system.start(RunRequest(), ADMIN, {})
    assert [(x["action"], x["success"]) for x in audit_lines(settings)] == [
        ("start", True),
        ("cancel", True),
        ("start", True),
        ("start", True),
    ]


async def test_a_full_queue_is_refused_and_audited(settings):
    async with open_system(replace(settings, mock_delay_s=30, max_concurrent=1, queue_size=1)) as system:
        await system.start(RunRequest(), ADMIN, {})  # runs
        await system.start(RunRequest(), ADMIN, {})  # waits
        with pytest.raises(Unavailable) as caught:
            await system.start(RunRequest(), ADMIN, {"n": 3})
        assert caught.value.retry_after >= 1 and (await system.list_runs())["total"] == 2
    assert [(x["success"], x["payload"]) for x in audit_lines(settings)][-1] == (False, {"n": 3})


async def test_the_stream_starts_with_a_snapshot_then_follows_changes(settings):
    async with open_system(settings) as system:
        first = (await system.start(RunRequest(), ADMIN, {}))["id"]
        async with system.subscribe(None) as stream:
            assert system.metrics.value("backtest_stream_clients") == 1
            events = []
            async for event in stream:
                events.append(event)
                if event.kind == "snapshot":
                    second = (await system.start(RunRequest(), ADMIN, {}))["id"]
                if event.kind == "run" and event.data["id"] == second and event.data["status"] == "done":
                    break
        assert [r["id"] for r in events[0].data["runs"]] == [first]
        ids = [e.id for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        statuses = [e.data["status"] for e in events[1:] if e.data["id"] == second]
        assert statuses[0] == "queued" and statuses[1] == "running" and statuses[-1] == "done"
        progress = [e.data["progress"] for e in events[1:] if e.data["id"] == second]
        assert progress == sorted(progress) and 0 < progress[-2] < 1  # progress rises with time
        await trio.sleep(0.05)
        assert system.metrics.value("backtest_stream_clients") == 0
        async with system.subscribe(ids[-1]) as stream:  # up to date: nothing replayed
            third = (await system.start(RunRequest(), ADMIN, {}))["id"]
            event = await stream.__anext__()
            assert event.id == ids[-1] + 1 and event.data["id"] == third


async def test_write_plugin_switch_follows_reload(settings):
    async with open_system(replace(settings, disabled_plugins=("write",))) as system:
        assert not system.plugin_enabled("write")
        assert system.plugin_enabled("strategies") == system.plugins.is_enabled("strategies")
        await system.reload(replace(settings, disabled_plugins=()))
        assert system.settings.disabled_plugins == ()
        assert system.plugin_enabled("write") == system.plugins.is_enabled("write")
        await system.reload(replace(settings, disabled_plugins=("write",)))
        assert not system.plugin_enabled("write")


async def test_reload_raises_the_concurrency_limit_at_once(settings):
    async with open_system(replace(settings, mock_delay_s=30, max_concurrent=1)) as system:
        ids = [(await system.start(RunRequest(), ADMIN, {}))["id"] for _ in range(3)]
        await wait_for(lambda: system.get_run(ids[0])["status"] == "running")
        assert [system.get_run(i)["status"] for i in ids] == ["running", "queued", "queued"]
        await system.reload(replace(settings, mock_delay_s=30, max_concurrent=3))
        await wait_for(lambda: all(system.get_run(i)["status"] == "running" for i in ids))


async def test_shutdown_records_runs_in_flight_and_a_restart_lists_them(settings):
    async with open_system(replace(settings, mock_delay_s=30, max_concurrent=2)) as system:
        ids = [(await system.start(RunRequest(), ADMIN, {}))["id"] for _ in range(4)]
    for run_id in ids:
        assert (run_file(settings, run_id)["status"], run_file(settings, run_id)["error"]) == ("failed", "interrupted")
    async with open_system(settings) as system:
        assert [r["id"] for r in (await system.list_runs())["runs"]] == ids[::-1]


async def test_a_restart_after_a_crash_marks_cut_off_runs_interrupted(settings):
    folder = settings.evidence_dir / "backtest"
    folder.mkdir(parents=True)
    crashed = {
        "id": "bt-1700000000000-0000abcd",
        "status": "running",
        "pair": "ETHUSDT",
        "timeframe": "4h",
        "notes": "",
        "strategy": "sma_cross",
        "params": {},
        "feed": {"name": "synthetic", "args": {}},
        "options": {},
        "impl": "engine",
        "startedAt": 1700000000000,
        "finishedAt": None,
        "progress": 0.5,
        "error": None,
        "stats": None,
    }
    (folder / f"run_{crashed['id']}.json").write_text(json.dumps({"runs": [crashed]}))
    (folder / "run_bt-1700000000001-0000abcd.json").write_text("{torn")
    async with open_system(settings) as system:
        [record] = (await system.list_runs())["runs"]
        assert (record["id"], record["status"], record["error"]) == (crashed["id"], "failed", "interrupted")
        assert run_file(settings, crashed["id"])["error"] == "interrupted"
        with pytest.raises(NotFound):  # nothing to cancel, and no 500 either
            await system.cancel("bt-1700000000001-0000abcd", ADMIN)


async def test_an_actor_that_dies_stops_the_system_and_never_leaves_a_caller_waiting(settings, caplog):
    """Defect 8: a failure inside an actor left the process alive but deaf. Now the death is logged, health turns
    false at once, every question still open is answered 503, and leaving the system raises ActorDied (the
    server exits non-zero on it, see tests/api/test_api_actor_death.py)."""

    async def broken_runner(job, progress):  # a worker answering something that is not an Outcome
        return "not an outcome"

    with pytest.raises(ActorDied, match="actor scheduler died: AttributeError"):
        async with open_system(settings, runners={"mock": broken_runner}) as system:
            await system.start(RunRequest(), ADMIN, {})
            await wait_for(lambda: not system.healthy())
            with pytest.raises(Unavailable):
                await system.start(RunRequest(), ADMIN, {})
            with pytest.raises(Unavailable):
                await system.cancel("bt-1700000000000-00000000", ADMIN)
    assert any(r.levelname == "CRITICAL" and "actor scheduler died" in r.getMessage() for r in caplog.records)


class Extra:
    """A throwaway strategy plugin for the reload test."""

    @staticmethod
    @hookimpl
    def register_strategies(register):
        register(StrategySpec(name="extra_one", fn=lambda params, ctx: None))


async def test_a_reload_that_changes_the_plugin_set_starts_a_new_generation(settings):
    async with open_system(settings, extra_plugins=[(Extra, "extra")]) as system:
        first = (await system.start(RunRequest(strategy="extra_one"), ADMIN, {}))["id"]
        assert "extra_one" in system.plugins.strategies
        assert await system.reload(settings) == []  # nothing changed: the same generation
        changes = await system.reload(replace(settings, disabled_plugins=("extra",)))
        assert changes[0] == "plugins: generation 2, -extra" and "extra_one" not in system.plugins.strategies
        second = (await system.start(RunRequest(), ADMIN, {}))["id"]
        assert system.get_run(first)["plugins"] == {"generation": 1, "names": ["strategies", "feeds", "write", "extra"]}
        assert system.get_run(second)["plugins"] == {"generation": 2, "names": ["strategies", "feeds", "write"]}


async def test_retention_deletes_ended_runs_older_than_the_setting(settings):
    now = [1_800_000_000_000]
    kept = replace(settings, mock_delay_s=0.01, retention_days=1.0, retention_check_s=0.2)
    async with open_system(kept, now_ms=lambda: now[0]) as system:
        old = (await system.start(RunRequest(), ADMIN, {}))["id"]
        await wait_for(lambda: system.get_run(old)["status"] == "done")
        now[0] += 2 * 86_400_000  # two days later
        young = (await system.start(RunRequest(), ADMIN, {}))["id"]
        await wait_for(lambda: system.get_run(old) is None)
        assert system.get_run(young) is not None
    deletes = [x for x in audit_lines(settings) if x["action"] == "delete"]
    assert [(x["id"], x["user"], x["success"]) for x in deletes] == [(old, "retention", True)]
