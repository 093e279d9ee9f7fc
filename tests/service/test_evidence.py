import json
import os
from pathlib import Path

import pytest

from spark.errors import InputError
from spark.service.evidence import write_json_atomic, write_result, write_run_record, write_text_atomic

RUN = "bt-1763700000000-0123abcd"


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_write_result_uses_the_seed_shape_and_parses(tmp_path: Path) -> None:
    doc = {"id": RUN, "report": {"stats": {"final_equity": 10743.00841}}, "metadata": {"symbol": "GOOG"}}
    path = write_result(tmp_path, doc)
    assert path == tmp_path / "backtest" / f"{RUN}.json"
    assert json.loads(path.read_text()) == doc
    assert leftovers(path.parent) == [] and oct(path.stat().st_mode & 0o777) == "0o644"


def test_run_record_is_wrapped_in_runs(tmp_path: Path) -> None:
    record = {"id": RUN, "status": "done", "startedAt": 1763700000000}
    path = write_run_record(tmp_path, record)
    assert path.name == f"run_{RUN}.json"
    assert json.loads(path.read_text()) == {"runs": [record]}
    write_run_record(tmp_path, {**record, "status": "failed"})
    assert json.loads(path.read_text())["runs"][0]["status"] == "failed"
    assert leftovers(path.parent) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "bt-1-x", "", None])
def test_ids_are_checked_before_any_path_is_built(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError):
        write_result(tmp_path, {"id": bad, "report": {}, "metadata": {}})
    with pytest.raises(InputError):
        write_run_record(tmp_path, {"id": bad})
    assert list(tmp_path.iterdir()) == []


def test_a_result_without_its_parts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="report, metadata"):
        write_result(tmp_path, {"id": RUN})


def test_a_value_that_cannot_be_serialised_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json_atomic(path, {"v": 1})
    for bad in ({"v": float("nan")}, {"v": object()}):
        with pytest.raises((ValueError, TypeError)):
            write_json_atomic(path, bad)
        assert json.loads(path.read_text()) == {"v": 1}
    assert leftovers(tmp_path) == []


def test_a_failing_rename_removes_the_temp_file_and_keeps_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep").write_text("old")
    with pytest.raises(OSError):
        write_text_atomic(target, "new")  # os.replace cannot put a file over a non-empty folder
    assert (target / "keep").read_text() == "old"
    assert leftovers(tmp_path) == []


def test_rewrites_replace_the_file_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "f.txt"
    write_text_atomic(path, "a" * 100_000)
    inode = path.stat().st_ino
    write_text_atomic(path, "b")
    assert path.read_text() == "b" and path.stat().st_ino != inode  # a new file renamed in, not rewritten in place
    assert sorted(os.listdir(path.parent)) == ["f.txt"]


def test_write_result_also_writes_its_compact_forms(tmp_path: Path) -> None:
    import numpy as np

    from spark.service.evidence import read_equity, summary_path

    doc = {
        "id": RUN,
        "report": {
            "stats": {"finalEquity": 101.5},
            "timestamp": [1000, 2000, 3000],
            "equity": [100.0, 99.25, 101.5],
            "trades": [{"id": 1}],
        },
        "metadata": {"symbol": "GOOG", "options": {"fee": 0.001}},
    }
    write_result(tmp_path, doc)
    summary = json.loads(summary_path(tmp_path, RUN).read_text())
    assert summary == {
        "id": RUN,
        "report": {"stats": {"finalEquity": 101.5}},
        "metadata": {"symbol": "GOOG", "options": {"fee": 0.001}},
    }
    timestamps, equity = read_equity(tmp_path, RUN)
    assert timestamps.tolist() == [1000, 2000, 3000] and timestamps.dtype == np.int64
    assert equity.tolist() == [100.0, 99.25, 101.5]
    assert leftovers(tmp_path / "backtest") == []


def test_a_damaged_equity_file_reads_as_none(tmp_path: Path) -> None:
    from spark.service.evidence import read_equity, series_path

    assert read_equity(tmp_path, RUN) is None
    series_path(tmp_path, RUN).parent.mkdir(parents=True)
    series_path(tmp_path, RUN).write_bytes(b"\x93NUMPY garbage")
    assert read_equity(tmp_path, RUN) is None
