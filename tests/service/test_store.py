"""The run store: newest-first listing, ordered durable writes, and the rebuild after a restart."""

from __future__ import annotations

import json
import logging

import pytest
import trio

from spark.plugin.request import RunRequest
from spark.service.record import RunRecord
from spark.service.store import RunStore, new_record


def runs_dir(tmp_path):
    folder = tmp_path / "backtest"
    folder.mkdir(exist_ok=True)
    return folder


def rid(n: int) -> str:
    return f"bt-{1_700_000_000_000 + n:013d}-{n:08x}"


def record(n: int, status: str = "queued") -> RunRecord:
    return new_record(rid(n), RunRequest(), impl="mock", started_at=1_700_000_000_000 + n).replace(status=status)


def wire(n: int, status: str = "queued") -> dict:
    return record(n, status).to_wire()


def test_listing_is_newest_first_bounded_and_pages_with_before(tmp_path):
    store = RunStore(tmp_path)
    for n in (5, 1, 9, 3):
        store.put(record(n))
    assert [r.id for r in store.page(3)] == [rid(9), rid(5), rid(3)]
    assert [r.id for r in store.page(None)] == [rid(9), rid(5), rid(3), rid(1)]
    assert store.page(0) == []
    assert [r.id for r in store.page(2, before=rid(5))] == [rid(3), rid(1)]  # older than run 5
    assert [r.id for r in store.page(2, before=rid(4))] == [rid(3), rid(1)]  # a cursor need not be a known run
    assert store.page(2, before=rid(1)) == []
    with pytest.raises(AttributeError):
        store.page(1)[0].status = "tampered"  # frozen: a reader cannot change the store


def test_ten_thousand_runs_list_in_order(tmp_path):
    store = RunStore(tmp_path)
    for n in range(10_000):
        store.put(record((n * 7919) % 10_000))
    assert len(store) == 10_000
    assert [r.id for r in store.page(100)] == [rid(n) for n in range(9_999, 9_899, -1)]


async def test_flush_writes_the_newest_version_and_never_an_older_one(tmp_path):
    store = RunStore(tmp_path)
    v1 = store.put(record(1))
    _, v2 = store.update(rid(1), status="running")
    assert await store.flush(rid(1), v2) is True  # created the file
    assert await store.flush(rid(1), v1) is False  # older: nothing to do
    on_disk = json.loads((runs_dir(tmp_path) / f"run_{rid(1)}.json").read_text())
    assert on_disk == {"runs": [store.get(rid(1)).to_wire()]} and on_disk["runs"][0]["status"] == "running"


async def test_concurrent_flushes_of_one_run_end_with_the_newest_on_disk(tmp_path):
    store = RunStore(tmp_path)
    store.put(record(1))
    async with trio.open_nursery() as nursery:
        for status in ("running", "done", "failed", "running", "done"):
            _, version = store.update(rid(1), status=status)
            nursery.start_soon(store.flush, rid(1), version)
    assert json.loads((runs_dir(tmp_path) / f"run_{rid(1)}.json").read_text())["runs"][0]["status"] == "done"


def test_load_rebuilds_and_marks_cut_off_runs_interrupted(tmp_path, caplog):
    for n, status in ((1, "done"), (2, "running"), (3, "queued"), (4, "failed")):
        (runs_dir(tmp_path) / f"run_{rid(n)}.json").write_text(json.dumps({"runs": [wire(n, status)]}))
    store, interrupted = RunStore.load(tmp_path, now_ms=lambda: 1_800_000_000_000)
    assert sorted(interrupted) == [rid(2), rid(3)]
    assert [(r.id, r.status, r.error) for r in store.page(None)] == [
        (rid(4), "failed", None),
        (rid(3), "failed", "interrupted"),
        (rid(2), "failed", "interrupted"),
        (rid(1), "done", None),
    ]
    again = json.loads((runs_dir(tmp_path) / f"run_{rid(2)}.json").read_text())["runs"][0]
    assert (again["status"], again["error"], again["finishedAt"]) == ("failed", "interrupted", 1_800_000_000_000)


def test_load_skips_foreign_and_broken_files(tmp_path, caplog):
    good = record(1, "done")
    (runs_dir(tmp_path) / f"run_{rid(1)}.json").write_text(json.dumps({"runs": [good.to_wire()]}))
    (runs_dir(tmp_path) / f"run_{rid(2)}.json").write_text('{"runs": [')  # torn
    (runs_dir(tmp_path) / f"run_{rid(3)}.json").write_bytes(b"\xff\xfe not utf-8")
    (runs_dir(tmp_path) / f"run_{rid(4)}.json").write_text(json.dumps({"runs": [wire(5, "done")]}))  # id mismatch
    (runs_dir(tmp_path) / f"run_{rid(6)}.json").write_text(json.dumps({"runs": [wire(6, "exploded")]}))
    (runs_dir(tmp_path) / f"run_{rid(7)}.json").write_text(json.dumps([1, 2, 3]))
    (runs_dir(tmp_path) / f"run_{rid(8)}.json").write_text("[" * 100_000 + "]" * 100_000)
    (runs_dir(tmp_path) / f"run_{rid(9)}.json").symlink_to(runs_dir(tmp_path) / f"run_{rid(1)}.json")
    (runs_dir(tmp_path) / "notes.txt").write_text("hello")
    (runs_dir(tmp_path) / f"run_{rid(10)}.json").mkdir()
    with caplog.at_level(logging.WARNING, logger="spark.service.store"):
        store, interrupted = RunStore.load(tmp_path)
    assert [r.id for r in store.page(None)] == [rid(1)] and interrupted == []
    assert store.get(rid(1)) == good
    skipped = {rec.args[0].name for rec in caplog.records}
    assert skipped == {f"run_{rid(n)}.json" for n in (2, 3, 4, 6, 7, 8, 9, 10)}


def test_load_of_a_missing_folder_is_empty(tmp_path):
    store, interrupted = RunStore.load(tmp_path / "nothing-yet")
    assert len(store) == 0 and interrupted == []


async def test_artifacts_are_the_run_files_that_exist_and_nothing_else(tmp_path):
    store = RunStore(tmp_path)
    version = store.put(record(1, "done"))
    await store.flush(rid(1), version)
    folder = runs_dir(tmp_path)
    (folder / f"{rid(1)}.json").write_text('{"id": "x", "report": {}}')
    (folder / f"{rid(1)}_trades.csv").symlink_to(tmp_path / "elsewhere.csv")  # planted: never listed
    (tmp_path / "elsewhere.csv").write_text("secret")
    assert [(a["type"], a["name"]) for a in store.artifacts(rid(1))] == [
        ("run", f"run_{rid(1)}.json"),
        ("result", f"{rid(1)}.json"),
    ]
    assert store.artifacts(rid(1))[1]["url"] == f"/api/backtest/{rid(1)}/artifacts/{rid(1)}.json"
    assert store.artifact_path(rid(1), f"{rid(1)}.json") == folder / f"{rid(1)}.json"
    for name in (f"{rid(1)}_trades.csv", "../elsewhere.csv", f"run_{rid(2)}.json", ""):
        assert store.artifact_path(rid(1), name) is None
    assert store.result(rid(1)) == {"id": "x", "report": {}}
    assert store.result(rid(2)) is None and store.artifacts(rid(2)) == []  # unknown run
    assert store.result("../../etc/passwd") is None and store.artifacts("bt-../x") == []


def test_summary_and_equity_of_evidence_written_before_the_compact_forms(tmp_path):
    # an older result document alone (no <id>.summary.json, no <id>.equity.npy): read from the full result
    store = RunStore(tmp_path)
    store.put(record(1, "done"))
    doc = {
        "id": rid(1),
        "report": {"stats": {"totalTrades": 2}, "timestamp": [10, 20], "equity": [1.0, 2.0]},
        "metadata": {"symbol": "X"},
    }
    (runs_dir(tmp_path) / f"{rid(1)}.json").write_text(json.dumps(doc))
    assert store.summary(rid(1)) == {"id": rid(1), "report": {"stats": {"totalTrades": 2}}, "metadata": {"symbol": "X"}}
    series = store.series(rid(1))
    assert (series.timestamp.tolist(), series.equity.tolist()) == ([10, 20], [1.0, 2.0])
    assert store.summary(rid(2)) is None and store.series(rid(2)) is None  # unknown runs read nothing


def test_load_removes_the_result_files_of_failed_runs_and_stale_temp_files(tmp_path):
    """Defect 10: a worker that outlived a killed server wrote result files for runs the restart marked
    interrupted. Start-up takes back what a run that did not end done left, and temp files of cut-off writes;
    a done run's files stay."""
    folder = runs_dir(tmp_path)
    for n, status in ((1, "done"), (2, "running"), (3, "failed")):
        (folder / f"run_{rid(n)}.json").write_text(json.dumps({"runs": [wire(n, status)]}))
        for suffix in (".json", ".summary.json", ".equity.npy", ".trades.npy", "_trades.csv", "_equity.csv"):
            (folder / f"{rid(n)}{suffix}").write_text("x")
    (folder / f".{rid(1)}.json.abc123.tmp").write_text("torn")
    (folder / "notes.txt").write_text("not ours: kept")
    RunStore.load(tmp_path)
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(
        ["notes.txt", *(f"run_{rid(n)}.json" for n in (1, 2, 3))]
        + [
            f"{rid(1)}{suffix}"
            for suffix in (".json", ".summary.json", ".equity.npy", ".trades.npy", "_trades.csv", "_equity.csv")
        ]
    )


def test_evidence_readers_do_not_follow_symlinks(tmp_path):
    """Defect 11: a symlink planted in the evidence folder was followed by the detail route."""
    store = RunStore(tmp_path)
    store.put(record(1, "done"))
    secret = tmp_path / "secret.json"
    secret.write_text('{"id": "x", "report": {"stats": {"leak": 1}}, "metadata": {}}')
    folder = runs_dir(tmp_path)
    for name in (f"{rid(1)}.summary.json", f"{rid(1)}.json", f"{rid(1)}.equity.npy"):
        (folder / name).symlink_to(secret)
    assert store.summary(rid(1)) is None and store.result(rid(1)) is None and store.series(rid(1)) is None
