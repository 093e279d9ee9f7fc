"""TPE through optuna (seeded, batch size fixed whatever the workers, journal in the evidence folder, resumable)
and the evidence folder every sweep writes: sweep.json (running, then done or failed) and results.npy."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import spark
from spark.errors import ParamError, StrategyError
from spark.research.evidence import read_sweep, sweep_folder
from spark.research.jobs import Cancelled

from .conftest import same_table
from .momentum_plugin import MOMENTUM

SPACE = {"fast": "2:40", "slow": "10:150"}
SW = "sw-1700000000000-0000000a"


def tpe(candles: Any, plugins: Any, **kwargs: Any) -> spark.SweepResult:
    kwargs.setdefault("seed", 11)
    return spark.run_sweep(candles, "sma_cross", space=SPACE, method="tpe", plugins=plugins, **kwargs)


def test_tpe_is_seeded_and_independent_of_workers(goog: Any, plugins: Any) -> None:
    one = tpe(goog, plugins, trials=30, batch_size=10, executor="inline")
    two = tpe(goog, plugins, trials=30, batch_size=10, executor="local", workers=2)
    assert same_table(one.table, two.table)
    assert len(one) + one.skipped == 30 and one.best is not None
    other = tpe(goog, plugins, trials=30, batch_size=10, executor="inline", seed=12)
    assert not same_table(one.table, other.table)


def test_tpe_journal_and_resume(goog: Any, plugins: Any, tmp_path: Path) -> None:
    first = tpe(goog, plugins, trials=12, batch_size=6, evidence_dir=tmp_path, sweep_id=SW)
    folder = sweep_folder(tmp_path, SW)
    assert (folder / "optuna.journal").stat().st_size > 0
    more = tpe(goog, plugins, trials=20, batch_size=6, evidence_dir=tmp_path, sweep_id=SW, resume=True)
    assert len(more) + more.skipped == 20
    # the trials already done are kept, in order, with the same rows
    assert same_table(more.table[: len(first)], first.table)
    doc, table = read_sweep(folder)
    assert doc["status"] == "done" and doc["total"] == len(more) and same_table(table, more.table)


def test_evidence_folder_of_a_done_sweep(goog: Any, plugins: Any, tmp_path: Path) -> None:
    result = spark.run_sweep(
        goog, "sma_cross", grid={"fast": "2:10:2", "slow": [20, 40]}, plugins=plugins, evidence_dir=tmp_path, fee=0.001
    )
    assert result.id is not None and result.id.startswith("sw-")
    doc, table = read_sweep(sweep_folder(tmp_path, result.id))
    assert doc["id"] == result.id and doc["status"] == "done" and doc["strategy"] == "sma_cross"
    assert doc["spec"]["grid"] == {"fast": "2:10:2", "slow": [20, 40]} and doc["spec"]["options"]["fee"] == 0.001
    assert doc["executor"]["name"] == "inline" and doc["chunking"]["chunkSize"] >= 1 and doc["seeds"] == {"seed": 0}
    assert doc["best"]["index"] == result.best["index"] and doc["finishedAt"] >= doc["startedAt"]
    assert same_table(table, result.table)
    assert np.load(sweep_folder(tmp_path, result.id) / "results.npy", allow_pickle=False).shape == (len(result),)


def broken(params: Any, ctx: Any) -> None:
    raise RuntimeError("boom")


def test_failed_cancelled_and_refused_sweeps(goog: Any, eurusd: Any, plugins: Any, tmp_path: Path) -> None:
    bad = spark.StrategySpec(name="broken", fn=broken, params=(spark.Param(name="x", type="int", default=1),))
    with pytest.raises(StrategyError):
        spark.run_sweep(goog, bad, grid={"x": [1, 2]}, evidence_dir=tmp_path, sweep_id=SW)
    doc, table = read_sweep(sweep_folder(tmp_path, SW))
    assert doc["status"] == "failed" and "boom" in doc["error"] and table is None
    cancel = threading.Event()
    cancel.set()
    sw2 = "sw-1700000000000-0000000b"
    with pytest.raises(Cancelled):
        spark.run_sweep(
            eurusd,
            MOMENTUM,
            grid={"lookback": "1:100"},
            evidence_dir=tmp_path,
            sweep_id=sw2,
            cancel=cancel,
            executor="inline",
        )
    assert json.loads((sweep_folder(tmp_path, sw2) / "sweep.json").read_text())["error"] == "cancelled"
    sw3 = "sw-1700000000000-0000000c"
    with pytest.raises(ParamError):
        spark.run_sweep(goog, "sma_cross", grid={"fast": "9:1:1"}, plugins=plugins, evidence_dir=tmp_path, sweep_id=sw3)
    assert not sweep_folder(tmp_path, sw3).exists()  # bad input: nothing written
