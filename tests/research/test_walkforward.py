"""Walk-forward: fold layout (rolling, anchored, purge >= warm-up, embargo), refusals naming the fold, test windows
warmed up without trading, the stitched out-of-sample curve, the deflated Sharpe, and evidence the gates read."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import spark
from spark.errors import ParamError
from spark.research.deflated import deflated_sharpe, moments
from spark.research.evidence import sweep_folder
from spark.research.folds import layout, out_of_sample
from spark.service.gates import Thresholds, evaluate

GRID = {"fast": "5:20:5", "slow": "30:90:20"}
WF = "wf-1700000000000-0000000a"


def test_rolling_and_anchored_layouts() -> None:
    rolling = layout(1000, folds=4, mode="rolling", train_bars=None, test_bars=None, purge=10, embargo=0, min_train=5)
    assert [f.test for f in rolling] == [(208, 406), (406, 604), (604, 802), (802, 1000)]
    assert all(f.train == (f.test[0] - 10 - 198, f.test[0] - 10) for f in rolling)
    anchored = layout(1000, folds=3, mode="anchored", train_bars=400, test_bars=None, purge=0, embargo=20, min_train=5)
    assert all(f.train[0] == 0 and f.train[1] == f.test[0] for f in anchored)
    assert [b.test[0] - a.test[1] for a, b in itertools.pairwise(anchored)] == [20, 20]
    fitted = layout(1000, folds=None, mode="rolling", train_bars=300, test_bars=100, purge=0, embargo=0, min_train=5)
    assert len(fitted) == 7 and fitted[-1].test[1] <= 1000


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"folds": 5, "train_bars": 100, "test_bars": 400}, "walkForward.folds", "fold 5"),
        ({"folds": 3, "train_bars": 40, "test_bars": 50}, "walkForward.trainBars", "fold 1"),
        ({"folds": 0}, "walkForward.folds", ""),
        ({"mode": "sideways"}, "walkForward.mode", ""),
        ({"purge_bars": 5}, "walkForward.purgeBars", "warm-up (90)"),
        ({"embargo_bars": -1}, "walkForward.embargoBars", ""),
    ],
)
def test_bad_layouts_are_refused_naming_the_fold(kwargs: dict, field: str, words: str, goog: Any, plugins: Any) -> None:
    with pytest.raises(ParamError) as err:
        spark.run_walkforward(goog, "sma_cross", grid=GRID, plugins=plugins, **kwargs)
    assert err.value.field == field and words in str(err.value)


def test_a_test_window_is_warmed_up_without_trading(eurusd: Any, plugins: Any) -> None:
    spec = plugins.strategy("sma_cross")
    params = {"fast": 5, "slow": 90}
    sim, stats, test = out_of_sample(eurusd, spec, params, spark.engine.Options(), 2000, 2500)
    assert len(sim.equity) == len(test) == 500 and int(test.timestamp[0]) == int(eurusd.timestamp[2000])
    assert (sim.trades[:, 3] >= 1).all()  # no fill before the test window's second bar
    cold = spark.run_backtest(test, spec, params)
    first_cold = cold.report.trades.array[:, 3].min()
    assert first_cold > 90 and sim.trades[:, 3].min() < first_cold  # warm: the SMAs are defined from bar 0
    # the out-of-sample stats are those of the test bars' equity
    assert stats["final_equity"] == sim.equity[-1] and stats["total_trades"] == len(sim.trades)


def test_walkforward_report_and_stitching(eurusd: Any, plugins: Any) -> None:
    wf = spark.run_walkforward(eurusd, "sma_cross", grid=GRID, folds=4, plugins=plugins, fee=0.0001, size=1000)
    assert len(wf.folds) == 4 and wf.purge_bars == 90
    assert all(f["params"] is not None and f["in_sample"]["sharpe"] is not None for f in wf.folds)
    assert sum(f["test"][1] - f["test"][0] for f in wf.folds) == len(wf.oos_equity)
    assert (np.diff(wf.oos_timestamp) > 0).all()
    first = wf.folds[0]
    sim, stats, _ = out_of_sample(
        eurusd,
        plugins.strategy("sma_cross"),
        first["params"],
        spark.engine.Options(fee=0.0001, size=1000),
        *first["test"],
    )
    assert np.array_equal(wf.oos_equity[: len(sim.equity)], sim.equity) and stats == first["out_of_sample"]
    assert wf.oos_stats["final_equity"] == wf.oos_equity[-1]
    assert wf.trials == 16 and wf.deflated["trials"] == 16 and 0 <= wf.deflated["value"] <= 1
    assert wf.efficiency is not None and math.isclose(wf.efficiency + wf.degradation, 1.0)
    assert set(wf.stability["params"]) == {"fast", "slow"} and 0 < wf.stability["modeShare"] <= 1
    assert wf.final["params"] in [
        r for r in ({"fast": f, "slow": s} for f in (5, 10, 15, 20) for s in (30, 50, 70, 90))
    ]
    assert "out of sample:" in wf.line()


def test_evidence_is_what_the_promotion_gates_read(eurusd: Any, plugins: Any, tmp_path: Path) -> None:
    wf = spark.run_walkforward(
        eurusd, "sma_cross", grid=GRID, folds=3, plugins=plugins, evidence_dir=tmp_path, sweep_id=WF, size=1000
    )
    folder = sweep_folder(tmp_path, WF)
    doc = json.loads((folder / "sweep.json").read_text())
    assert doc["kind"] == "walkforward" and doc["status"] == "done" and doc["strategy"] == "sma_cross"
    result = doc["result"]
    assert result["final"]["params"] == wf.final["params"]
    assert result["outOfSample"]["sharpe"] == wf.oos_stats["sharpe"]
    assert result["deflatedSharpe"]["value"] == wf.deflated["value"] and result["degradation"] == wf.degradation
    assert len(result["folds"]) == 3 and {"inSample", "outOfSample", "params", "train", "test"} <= set(
        result["folds"][0]
    )
    assert np.load(folder / "oos_equity.npy").shape == (len(wf.oos_equity),)
    thresholds = Thresholds(
        min_trades=1,
        max_drawdown_pct=50,
        min_oos_sharpe=-100,
        min_deflated_sharpe=0.0,
        max_degradation=100,
        max_params=5,
    )
    gates = {g.name: g for g in evaluate(thresholds, runs=(), walk_forward=result, param_count=2, lookahead=None)}
    assert gates["oos_sharpe"].value == wf.oos_stats["sharpe"] and gates["oos_sharpe"].verdict == "pass"
    assert gates["deflated_sharpe"].value == wf.deflated["value"] and gates["degradation"].verdict == "pass"


def test_deflated_sharpe_formula() -> None:
    # Bailey & López de Prado (2014)'s numerical example: an annualised SR of 2.5 over T=1250 daily returns,
    # skew -3, kurtosis 10, N=100 trials whose annualised SRs have variance 0.5: DSR ~ 0.9004 (SR0 ~ 1.79 a year)
    sr = 2.5 / math.sqrt(250)
    out = deflated_sharpe(sr, trials=100, variance=0.5 / 250, bars=1250, skew=-3.0, kurtosis=10.0)
    assert out["value"] == pytest.approx(0.9004, abs=2e-3)
    assert out["benchmark"] * math.sqrt(250) == pytest.approx(1.79, abs=0.01)
    one = deflated_sharpe(sr, trials=1, variance=0.5 / 250, bars=1250, skew=-3.0, kurtosis=10.0)
    assert one["benchmark"] == 0.0 and one["value"] > out["value"]  # no selection: the probabilistic Sharpe
    more = deflated_sharpe(sr, trials=10_000, variance=0.5 / 250, bars=1250, skew=-3.0, kurtosis=10.0)
    assert more["value"] < out["value"]  # more trials: more deflated
    sr, skew, kurt = moments(np.array([0.01, -0.02, 0.03, 0.0, 0.015]))
    assert sr == pytest.approx(
        np.mean([0.01, -0.02, 0.03, 0.0, 0.015]) / np.std([0.01, -0.02, 0.03, 0.0, 0.015], ddof=1)
    )
    assert math.isfinite(skew) and kurt >= 1.0
    assert deflated_sharpe(math.nan, trials=3, variance=0.1, bars=10, skew=0, kurtosis=3)["value"] is None
