"""What a sweep's worker thread does: drive `spark.research.run_sweep` or `run_walkforward` over the loaded
candles, then complete the evidence with the service's own fields. Blocking by design: the sweeps actor calls
`compute` through ``trio.to_thread``.

The research driver owns ``sweep.json`` while it runs (running, then done or failed, ``results.npy``, the optuna
journal); the service adds back what only it knows (SERVICE_FIELDS: the feed, who started it, when it was asked
for, the sets it expected) and the counts it reports. A walk-forward also gets ``is_equity.npy`` beside the
driver's ``oos_equity.npy``: the final choice run in hindsight over the same out-of-sample bars, rebased to where
the stitched out-of-sample equity starts, so the dashboard draws the two curves side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spark.config import Settings
from spark.engine import Candles, Options, backtest
from spark.plugin.manager import Plugins
from spark.research import evidence
from spark.research.executors import make_executor
from spark.research.reads import summary_of
from spark.research.sweep import run_sweep
from spark.research.walkforward import run_walkforward

__all__ = ["IS_EQUITY", "OOS_EQUITY", "SERVICE_FIELDS", "compute", "in_sample_equity"]

SERVICE_FIELDS = ("feed", "startedBy", "requestedAt", "sets")
OOS_EQUITY, IS_EQUITY = "oos_equity.npy", "is_equity.npy"


def compute(sweep: Any, candles: Candles, settings: Settings, plugins: Plugins, folder: Path) -> dict[str, Any]:
    """Run ``sweep`` (a `spark.actors.sweeps._Sweep`: its draft, id, cancel event and progress holder) to its end;
    returns what its summary gains (``done``, ``total``, ``best``...). Raises what the driver raises (Cancelled,
    ParamError for what only the data can tell, such as folds that do not fit)."""
    d = sweep.draft

    def progress(done: int, total: int, best: dict[str, Any] | None) -> None:
        sweep.progress = (done, total, best)  # one assignment: the actor's ticker reads whole tuples

    ray = make_executor("ray", ray_address=settings.ray_address) if settings.ray_address else None
    common: dict[str, Any] = {
        "grid": d.grid,
        "space": d.space,
        "method": d.method,
        "trials": d.trials,
        "seed": d.seed,
        "objective": d.objective,
        "constraints": d.constraints,
        "executor": ray,
        "workers": settings.sweep_workers or None,
        "progress": progress,
        "cancel": sweep.cancel,
        "evidence_dir": settings.evidence_dir,
        "sweep_id": sweep.id,
        "plugins": plugins,
        "max_sets": settings.sweep_max_sets,
        **d.options,
    }
    try:
        if d.kind == "walkforward":
            wf = run_walkforward(candles, d.strategy, **common, **(d.walk_forward or {}))
            final = wf.final.get("params")
            if final is not None and len(wf.oos_timestamp):
                equity = in_sample_equity(candles, plugins, d, final, wf.oos_timestamp, wf.oos_equity)
                np.save(folder / IS_EQUITY, equity, allow_pickle=False)
        else:
            run_sweep(candles, d.strategy, **common)
    finally:
        if ray is not None:
            ray.close()
    done, total, _ = sweep.progress or (0, 0, None)
    doc, table = evidence.read_sweep(folder)
    doc.update(sweep.service)
    rows = 0 if table is None else len(table)
    doc.update(
        done=max(done, rows) if d.kind == "sweep" else done, total=max(total, rows) if d.kind == "sweep" else total
    )
    evidence.write_json(folder, doc)
    return {k: v for k, v in summary_of(doc).items() if k not in ("status", "error", "finishedAt")}


def in_sample_equity(
    candles: Candles, plugins: Plugins, d: Any, params: dict[str, Any], oos_ts: np.ndarray, oos_equity: np.ndarray
) -> np.ndarray:
    """The final choice run over all the candles (it was chosen on them: in sample), read at the out-of-sample
    bars and rebased to the stitched out-of-sample equity's first value: ``(timestamp, equity)`` records."""
    spec = plugins.strategy(d.strategy)
    result = backtest(candles, spec, params, Options(**d.options), run_id="in-sample", started_at=0)
    at = np.searchsorted(candles.timestamp, oos_ts)
    at = np.clip(at, 0, len(candles) - 1)
    equity = np.asarray(result.report.equity, dtype=np.float64)[at]
    if len(equity) and equity[0] != 0:
        equity = equity * (float(oos_equity[0]) / float(equity[0]))
    return np.rec.fromarrays([np.asarray(oos_ts, dtype=np.int64), equity], names="timestamp,equity")
