"""`run_walkforward`: per fold, sweep the train window, pick by the objective, run the pick once out of sample.

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
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import Candles, StrategySpec
from spark.engine.result import camel
from spark.engine.stats import annualisation, compute_stats
from spark.engine.sweep import window
from spark.errors import ParamError
from spark.ids import wall_ms
from spark.plugin.manager import Plugins
from spark.research import evidence
from spark.research.deflated import deflated_sharpe, moments
from spark.research.executors import Executor
from spark.research.folds import Fold, layout, out_of_sample
from spark.research.jobs import Cancelled, job_for
from spark.research.result import Objective, SweepResult, build_table, parse_constraints, parse_objective
from spark.research.space import DEFAULT_MAX_SETS, expand_grid, parse_space, sample_random
from spark.research.sweep import _executor, evaluate, make_options, new_sweep_id, resolve_strategy

__all__ = ["WalkForwardResult", "run_walkforward"]


@dataclass(slots=True)
class WalkForwardResult:
    strategy: str
    mode: str
    purge_bars: int
    embargo_bars: int
    objective: Objective
    folds: list[dict[str, Any]]
    oos_timestamp: np.ndarray
    oos_equity: np.ndarray
    oos_stats: dict[str, Any]
    efficiency: float | None
    degradation: float | None
    stability: dict[str, Any]
    final: dict[str, Any]
    deflated: dict[str, Any]
    trials: int
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """camelCase on the wire; ``final.params``, ``outOfSample.sharpe``, ``deflatedSharpe.value`` and
        ``degradation`` are what the promotion gates read."""
        return {
            "id": self.id,
            "strategy": self.strategy,
            "mode": self.mode,
            "purgeBars": self.purge_bars,
            "embargoBars": self.embargo_bars,
            "objective": self.objective.to_json(),
            "folds": [_wire_fold(f) for f in self.folds],
            "outOfSample": {camel(k): v for k, v in self.oos_stats.items()},
            "efficiency": self.efficiency,
            "degradation": self.degradation,
            "stability": self.stability,
            "final": {
                "params": self.final["params"],
                "window": self.final["window"],
                "inSample": {camel(k): v for k, v in self.final["stats"].items()},
            },
            "deflatedSharpe": self.deflated,
            "trials": self.trials,
            **self.meta,
        }

    def line(self) -> str:
        """The out-of-sample line the CLI prints."""
        s = self.oos_stats

        def f(v: Any, fmt: str) -> str:
            return "n/a" if v is None else format(v, fmt)

        dsr = self.deflated.get("value")
        return (
            f"out of sample: return {f(s['return_pct'], '.2f')}%  sharpe {f(s['sharpe'], '.3f')}  "
            f"max drawdown {f(s['max_drawdown_pct'], '.2f')}%  trades {s['total_trades']}  "
            f"efficiency {f(self.efficiency, '.3f')}  deflated sharpe {f(dsr, '.3f')} (N={self.trials})"
        )


def _wire_fold(f: dict[str, Any]) -> dict[str, Any]:
    out = {camel(k): v for k, v in f.items() if k not in ("in_sample", "out_of_sample")}
    out["inSample"] = None if f["in_sample"] is None else {camel(k): v for k, v in f["in_sample"].items()}
    out["outOfSample"] = None if f["out_of_sample"] is None else {camel(k): v for k, v in f["out_of_sample"].items()}
    return out


def _key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted(params.items()))


def _stability(folds: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    chosen = [f["params"] for f in folds if f["params"] is not None]
    out: dict[str, Any] = {"folds": len(chosen)}
    if not chosen:
        return out
    counts = Counter(_key(p) for p in chosen)
    out["modeShare"] = counts.most_common(1)[0][1] / len(chosen)
    per: dict[str, Any] = {}
    for name in names:
        values = [p[name] for p in chosen]
        entry: dict[str, Any] = {"values": values, "distinct": len(set(values))}
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            arr = np.asarray(values, dtype=np.float64)
            mean = float(arr.mean())
            entry["mean"] = mean
            entry["std"] = float(arr.std())
            entry["cv"] = float(arr.std()) / abs(mean) if mean != 0 else None
        per[name] = entry
    out["params"] = per
    return out


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
    **options: Any,
) -> WalkForwardResult:
    """Walk-forward validation of ``strategy`` over ``grid`` (or ``space`` with ``method="random"``, ``trials``).
    ``purge_bars="auto"`` is the largest warm-up among the sets (a number below it is refused). Folds without
    enough bars are a ParamError naming the fold; a fold with fewer than ``min_oos_trades`` trades out of sample
    is flagged in its row. Evidence (``evidence_dir``): ``sweeps/<wf-id>/sweep.json`` with the report as
    ``result``, ``results.npy`` (the final sweep's table)."""
    if not isinstance(candles, Candles):
        raise ParamError(f"candles must be spark.Candles, got {type(candles).__name__}", field="candles")
    spec = resolve_strategy(strategy, plugins)
    opts = make_options(options)
    obj = parse_objective(objective)
    cons = parse_constraints(constraints)
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
    runner = _executor(executor, workers, len(sets))
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
        "data": {
            "symbol": candles.symbol,
            "timeframe": candles.timeframe,
            "bars": len(candles),
            "dataHash": candles.fingerprint,
        },
        "executor": runner.describe(),
        "seeds": {"seed": seed},
        "startedAt": wall_ms(),
        "finishedAt": None,
        "error": None,
    }
    if folder is not None:
        evidence.write_json(folder, doc)
    t0 = time.perf_counter()
    total = len(sets) * (len(plan) + 1)
    try:
        result = _walk(
            candles,
            spec,
            sets,
            skipped,
            plan,
            mode,
            purge,
            embargo_bars,
            min_oos_trades,
            opts,
            obj,
            cons,
            runner,
            chunk_size,
            progress,
            cancel,
            total,
            sweep_id,
        )
    except BaseException as exc:
        if owned:
            runner.close()
        if folder is not None:
            doc.update(
                status="failed",
                finishedAt=wall_ms(),
                error="cancelled" if isinstance(exc, Cancelled) else str(exc) or type(exc).__name__,
            )
            evidence.write_json(folder, doc)
        raise
    if owned:
        runner.close()
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


def _walk(
    candles,
    spec,
    sets,
    skipped,
    plan: list[Fold],
    mode,
    purge,
    embargo,
    min_trades,
    opts,
    obj,
    cons,
    runner,
    chunk_size,
    progress,
    cancel,
    total,
    sweep_id,
) -> WalkForwardResult:
    names = tuple(p.name for p in spec.params)
    types = [p.type for p in spec.params]
    done = [0]

    def sweep(start: int, stop: int, tag: str) -> SweepResult:
        part = window(candles, start, stop)
        base = done[0]

        def report(d: int, t: int, best: Any) -> None:
            if progress is not None:
                progress(base + d, total, best)

        job = job_for(f"{sweep_id}-{tag}", part, spec, opts)
        table = evaluate(
            job,
            sets,
            executor=runner,
            chunk_size=chunk_size,
            objective=obj,
            constraints=cons,
            progress=report,
            cancel=cancel,
        )
        done[0] += len(sets)
        ppy, basis = annualisation(part, opts)
        return SweepResult(
            strategy=spec.name,
            param_names=names,
            table=build_table(names, types, sets, table),
            objective=obj,
            constraints=cons,
            skipped=skipped,
            periods_per_year=ppy,
            annualisation=basis,
        )

    rows: list[dict[str, Any]] = []
    pieces: list[tuple[Any, Candles]] = []
    for fold in plan:
        ins = sweep(*fold.train, f"f{fold.number}")
        best = ins.best
        row: dict[str, Any] = {
            **fold.to_json(),
            "params": None,
            "in_sample": None,
            "out_of_sample": None,
            "warning": None,
        }
        if best is None:
            row["warning"] = f"fold {fold.number}: no parameter set met the constraints in sample"
            rows.append(row)
            continue
        sim, stats, test = out_of_sample(candles, spec, best["params"], opts, *fold.test)
        row.update(params=best["params"], in_sample=best["stats"], out_of_sample=stats)
        if stats["total_trades"] < min_trades:
            row["warning"] = (
                f"fold {fold.number}: {stats['total_trades']} trades out of sample (fewer than {min_trades})"
            )
        rows.append(row)
        pieces.append((sim, test))
    last = plan[-1]
    n = len(candles)
    length = last.train[1] - last.train[0]
    final_window = (0, n) if mode == "anchored" else (max(0, n - length), n)
    final_sweep = sweep(*final_window, "final")
    final = final_sweep.best
    ts, equity, oos_stats = _stitch(pieces, opts)
    objective_is = [r["in_sample"][obj.stat] for r in rows if r["params"] is not None]
    objective_oos = [r["out_of_sample"][obj.stat] for r in rows if r["params"] is not None]
    efficiency = degradation = None
    pairs = [(a, b) for a, b in zip(objective_is, objective_oos, strict=True) if a is not None and b is not None]
    if pairs:
        mean_is = float(np.mean([a for a, _ in pairs]))
        mean_oos = float(np.mean([b for _, b in pairs]))
        if mean_is != 0:
            degradation = ((mean_is - mean_oos) if obj.maximise else (mean_oos - mean_is)) / abs(mean_is)
            efficiency = 1.0 - degradation
    distinct = len({_key(s) for s in sets})
    deflated: dict[str, Any] = {"value": None, "trials": distinct}
    final_doc: dict[str, Any] = {"params": None, "stats": {}, "window": list(final_window)}
    if final is not None:
        part = window(candles, *final_window)
        sim, stats, _ = out_of_sample(part, spec, final["params"], opts, 0, len(part))
        eq = np.concatenate([[float(opts.cash)], sim.equity])
        sr, skew, kurt = moments(eq[1:] / eq[:-1] - 1.0)
        ppy = final_sweep.periods_per_year
        per_bar = final_sweep.table["sharpe"] / np.sqrt(ppy) if ppy else np.array([np.nan])
        finite = per_bar[np.isfinite(per_bar)]
        var = float(finite.var(ddof=1)) if len(finite) > 1 else 0.0
        deflated = deflated_sharpe(sr, trials=distinct, variance=var, bars=len(sim.equity), skew=skew, kurtosis=kurt)
        final_doc = {"params": final["params"], "stats": stats, "window": list(final_window)}
    return WalkForwardResult(
        strategy=spec.name,
        mode=mode,
        purge_bars=purge,
        embargo_bars=embargo,
        objective=obj,
        folds=rows,
        oos_timestamp=ts,
        oos_equity=equity,
        oos_stats=oos_stats,
        efficiency=efficiency,
        degradation=degradation,
        stability=_stability(rows, names),
        final=final_doc,
        deflated=deflated,
        trials=distinct,
        id=sweep_id,
        meta={"_table": final_sweep.table},
    )


def _stitch(pieces: list[tuple[Any, Candles]], opts: Any) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The test windows' equity chained (each fold scaled to start where the last ended) and its stats."""
    from spark.engine.candles import Candles as _C

    if not pieces:
        raise ParamError("walk-forward: no fold produced an out-of-sample run", field="walkForward")
    cash = float(opts.cash)
    level = cash
    eq, trades, fills, cols = [], [], [], {k: [] for k in ("timestamp", "open", "high", "low", "close", "volume")}
    rejected = exposed = 0
    for sim, test in pieces:
        factor = level / cash
        eq.append(sim.equity * factor)
        t = sim.trades.copy()
        t[:, [2, 7, 8]] *= factor
        trades.append(t)
        f = sim.fills.copy()
        f[:, [2, 4]] *= factor
        fills.append(f)
        rejected += len(sim.rejected)
        exposed += sim.exposed_bars
        level = float(eq[-1][-1])
        for k in cols:
            cols[k].append(getattr(test, k))
    first = pieces[0][1]
    stitched = _C(**{k: np.concatenate(v) for k, v in cols.items()}, symbol=first.symbol, timeframe=first.timeframe)
    equity = np.concatenate(eq)
    stats, _ = compute_stats(
        equity=equity,
        trades=np.concatenate(trades),
        fills=np.concatenate(fills),
        rejected=rejected,
        exposed_bars=exposed,
        candles=stitched,
        options=opts,
    )
    return stitched.timestamp, equity, stats
