"""`run_walkforward`: per fold, sweep the train window, pick by the objective, run the pick once out of sample.
This is the driver (the inputs checked, the folds laid out, the evidence folder, the executor); the walk itself and
its report are `spark.research.walk`.

    wf = run_walkforward(candles, "sma_cross", grid={"fast": "5:50:5", "slow": "20:200:10"}, folds=5)
    wf.folds, wf.oos_stats, wf.efficiency, wf.degradation, wf.deflated["value"], wf.final["params"]

The report: a per-fold table (chosen params, in-sample and out-of-sample stats), the out-of-sample equity of all
folds stitched (each fold compounding from where the last ended) and its stats, walk-forward efficiency (mean
out-of-sample objective over mean in-sample objective), degradation (1 - efficiency), parameter stability across
folds, and the final choice (the sweep of the most recent train-length window) with its deflated Sharpe ratio,
N being every distinct parameter set tried. `to_json` is the shape `spark.service.gates` reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import Candles, StrategySpec
from spark.errors import ParamError
from spark.ids import wall_ms
from spark.plugin.manager import Plugins
from spark.research import evidence
from spark.research.executors import Executor
from spark.research.folds import layout
from spark.research.result import Objective
from spark.research.space import DEFAULT_MAX_SETS, expand_grid, parse_space, sample_random
from spark.research.sweep import _executor, check_inputs, new_sweep_id
from spark.research.walk import WalkForwardResult, WalkPlan, walk

__all__ = ["WalkForwardResult", "run_walkforward"]


def run_walkforward(
    candles: Candles,
    strategy: str | StrategySpec = "sma_cross",
    *,
    grid: Mapping[str, Any] | None = None,
    space: Mapping[str, Any] | None = None,
    method: str | None = None,
    trials: int | None = None,
    seed: int = 0,
    objective: str | Objective = "sharpe",
    constraints: Mapping[str, Any] | None = None,
    folds: int | None = None,
    mode: str = "rolling",
    train_bars: int | None = None,
    test_bars: int | None = None,
    purge_bars: int | str = "auto",
    embargo_bars: int = 0,
    min_oos_trades: int = 1,
    executor: Executor | str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    progress: Any = None,
    cancel: threading.Event | None = None,
    evidence_dir: Path | str | None = None,
    sweep_id: str | None = None,
    plugins: Plugins | None = None,
    max_sets: int = DEFAULT_MAX_SETS,
    context: Mapping[str, Any] | None = None,
    **options: Any,
) -> WalkForwardResult:
    """Walk-forward validation of ``strategy`` over ``grid`` (or ``space`` with ``method="random"``, ``trials``).
    ``purge_bars="auto"`` is the largest warm-up among the sets (a number below it is refused). Folds without
    enough bars are a ParamError naming the fold; a fold with fewer than ``min_oos_trades`` trades out of sample
    is flagged in its row. Evidence (``evidence_dir``): ``sweeps/<wf-id>/sweep.json`` with the report as
    ``result``, ``results.npy`` (the final sweep's table)."""
    spec, opts, obj, cons = check_inputs(candles, strategy, plugins, options, objective, constraints)
    method = method or ("grid" if grid is not None else "random")
    if method == "grid":
        if grid is None:
            raise ParamError("a grid walk-forward takes grid", field="grid")
        sets, skipped = expand_grid(spec, grid, max_sets=max_sets)
    elif method == "random":
        if space is None or not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
            raise ParamError("a random walk-forward takes space and trials >= 1", field="trials")
        sets, skipped = sample_random(spec, parse_space(spec, space), trials, seed)
    else:
        raise ParamError(f"walk-forward method must be grid or random, got {method!r}", field="method")
    if not sets:
        raise ParamError("no valid parameter set to try (every combination was refused)", field="grid")
    warm = max(spec.warmup(s) for s in sets)
    if purge_bars == "auto":
        purge = warm
    else:
        if isinstance(purge_bars, bool) or not isinstance(purge_bars, int) or purge_bars < warm:
            raise ParamError(
                f"walkForward.purgeBars must be 'auto' or a whole number >= the warm-up ({warm})",
                field="walkForward.purgeBars",
            )
        purge = purge_bars
    plan = layout(
        len(candles),
        folds=folds,
        mode=mode,
        train_bars=train_bars,
        test_bars=test_bars,
        purge=purge,
        embargo=embargo_bars,
        min_train=warm + 2,
    )
    runner = _executor(executor, workers, len(sets) * len(candles))
    owned = not hasattr(executor, "run")
    sweep_id = sweep_id or new_sweep_id(wall_ms(), "wf")
    folder = None if evidence_dir is None else evidence.sweep_folder(evidence_dir, sweep_id)
    doc: dict[str, Any] = {
        "id": sweep_id,
        "kind": "walkforward",
        "status": "running",
        "strategy": spec.name,
        "spec": {
            "method": method,
            "grid": None if grid is None else {k: v if isinstance(v, str) else list(v) for k, v in grid.items()},
            "space": space,
            "trials": trials,
            "objective": obj.to_json(),
            "constraints": {k: v[1] for k, v in cons.items()},
            "options": opts.to_json(),
            "walkForward": {
                "folds": len(plan),
                "mode": mode,
                "trainBars": plan[0].train[1] - plan[0].train[0],
                "testBars": plan[0].test[1] - plan[0].test[0],
                "purgeBars": purge,
                "embargoBars": embargo_bars,
            },
        },
        "data": evidence.candles_doc(candles),
        "executor": runner.describe(),
        "seeds": {"seed": seed},
        "startedAt": wall_ms(),
        "finishedAt": None,
        "error": None,
        "context": dict(context or {}),
    }
    if folder is not None:
        evidence.write_json(folder, doc)
    walk_plan = WalkPlan(
        spec=spec,
        sets=sets,
        skipped=skipped,
        folds=plan,
        mode=mode,
        purge=purge,
        embargo=embargo_bars,
        min_trades=min_oos_trades,
        options=opts,
        objective=obj,
        constraints=cons,
    )
    t0 = time.perf_counter()
    with evidence.recording(folder, doc, runner.close if owned else None):
        result = walk(
            candles,
            walk_plan,
            runner=runner,
            chunk_size=chunk_size,
            progress=progress,
            cancel=cancel,
            sweep_id=sweep_id,
        )
    result.meta["seconds"] = round(time.perf_counter() - t0, 3)
    if folder is not None:
        evidence.write_table(folder, result.meta.pop("_table"))
        np.save(
            folder / "oos_equity.npy",
            np.rec.fromarrays([result.oos_timestamp, result.oos_equity], names="timestamp,equity"),
            allow_pickle=False,
        )
        doc.update(status="done", finishedAt=wall_ms(), result=result.to_json(), best=result.final)
        evidence.write_json(folder, doc)
    else:
        result.meta.pop("_table", None)
    return result
