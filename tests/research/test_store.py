"""The service's side of the drivers: a POST /api/sweeps body checked and run, sweeps listed, results paged and
sorted, and a sweep cut off by a crash marked failed/interrupted."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest

from spark.errors import ParamError
from spark.research.evidence import sweep_folder
from spark.research.jobs import Cancelled
from spark.research.store import check_body, list_sweeps, mark_interrupted, read_results, run_body

SW, WF = "sw-1700000000001-0000000a", "wf-1700000000002-0000000b"
BODY = {
    "strategy": "sma_cross",
    "grid": {"fast": "5:20:5", "slow": [30, 50]},
    "options": {"fee": 0.001},
    "constraints": {"min_trades": 3},
}


def test_a_body_runs_as_a_sweep_and_as_a_walk_forward(goog: Any, plugins: Any, tmp_path: Path) -> None:
    seen: list[int] = []
    result = run_body(
        goog,
        BODY,
        sweep_id=SW,
        evidence_dir=tmp_path,
        plugins=plugins,
        progress=lambda done, total, best: seen.append(done),
    )
    assert len(result) == 8 and seen[-1] == 8
    wf = run_body(
        goog,
        {**BODY, "walkForward": {"folds": 3, "mode": "anchored"}},
        sweep_id=WF,
        evidence_dir=tmp_path,
        plugins=plugins,
    )
    assert len(wf.folds) == 3 and wf.mode == "anchored"
    listed = list_sweeps(tmp_path)
    assert [d["id"] for d in listed] == [WF, SW] and all(d["status"] == "done" for d in listed)
    assert "result" not in listed[0] and "top" not in listed[1]


def test_results_are_paged_and_sorted(goog: Any, plugins: Any, tmp_path: Path) -> None:
    run_body(goog, BODY, sweep_id=SW, evidence_dir=tmp_path, plugins=plugins)
    folder = sweep_folder(tmp_path, SW)
    page = read_results(folder, sort="-sharpe", limit=3, offset=0)
    assert page["total"] == 8 and len(page["rows"]) == 3
    values = [r["stats"]["sharpe"] for r in read_results(folder, sort="-sharpe", limit=100)["rows"]]
    finite = [v for v in values if v is not None]
    assert finite == sorted(finite, reverse=True) and values[: len(finite)] == finite  # undefined last
    assert read_results(folder, sort="maxDrawdownPct", limit=1)["rows"][0]["stats"]["maxDrawdownPct"] == min(
        r["stats"]["maxDrawdownPct"] for r in read_results(folder)["rows"]
    )
    by_index = read_results(folder, limit=2, offset=2)["rows"]
    assert [r["index"] for r in by_index] == [2, 3] and set(by_index[0]["params"]) == {"fast", "slow"}
    assert all(v is None or not isinstance(v, float) or math.isfinite(v) for v in by_index[0]["stats"].values())
    for bad in ({"sort": "luck"}, {"limit": -1}, {"offset": "2"}):
        with pytest.raises(ParamError):
            read_results(folder, **bad)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nope": 1}, "nope"),
        ({"options": {"leverage": 2}}, "options.leverage"),
        ({"walkForward": {"folds": 3, "windows": 2}}, "walkForward.windows"),
        ({"walkForward": 5}, "walkForward"),
        ({"method": "tpe", "space": {"fast": "2:9"}, "trials": 4, "walkForward": {"folds": 2}}, "method"),
    ],
)
def test_bad_bodies_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(ParamError) as err:
        check_body(body)
    assert err.value.field == field


def test_a_cancelled_run_and_an_interrupted_one(goog: Any, plugins: Any, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run_body(goog, BODY, sweep_id=SW, evidence_dir=tmp_path, plugins=plugins, cancel=cancel)
    assert json.loads((sweep_folder(tmp_path, SW) / "sweep.json").read_text())["error"] == "cancelled"
    folder = sweep_folder(tmp_path, WF)
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"id": WF, "status": "running", "startedAt": 1}))
    assert mark_interrupted(tmp_path) == [WF]
    doc = json.loads((folder / "sweep.json").read_text())
    assert doc["status"] == "failed" and doc["error"] == "interrupted" and doc["finishedAt"] > 1
    assert mark_interrupted(tmp_path) == []
