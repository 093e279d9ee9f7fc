"""The walk of a walk-forward, below its driver `spark.research.walkforward.run_walkforward`: per fold, sweep the
train window, pick by the objective and run the pick once out of sample; then sweep the most recent train-length
window for the final choice; and the report of it all, `WalkForwardResult` (what it holds: the driver's docstring).
The driver checks the inputs and lays out the folds (a `WalkPlan`), and owns the evidence folder and the executor.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spark.engine import Candles, Options, StrategySpec
from spark.engine.result import camel
from spark.engine.stats import compute_stats
from spark.engine.sweep import window
from spark.errors import ParamError
from spark.research.deflated import deflated_sharpe, moments
from spark.research.executors import Executor
from spark.research.folds import Fold, out_of_sample
from spark.research.jobs import job_for
from spark.research.result import Objective, SweepResult
from spark.research.sweep import evaluate, sweep_result

__all__ = ["WalkForwardResult", "WalkPlan", "walk"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkPlan:
    """What a walk evaluates (checked by the driver): the parameter sets over the folds, and how folds are judged."""

    spec: StrategySpec
    sets: list[dict[str, Any]]
    skipped: int  # sets the strategy refused
    folds: list[Fold]
    mode: str  # rolling | anchored
    purge: int
    embargo: int
    min_trades: int  # fewer trades out of sample flag the fold
    options: Options
    objective: Objective
    constraints: dict[str, tuple[str, float]]

    @property
    def total(self) -> int:
        """Sets evaluated in all: every set once per fold and once more for the final choice."""
        return len(self.sets) * (len(self.folds) + 1)


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


def walk(
    candles: Candles,
    plan: WalkPlan,
    *,
    runner: Executor,
    chunk_size: int | None,
    progress: Any,
    cancel: threading.Event | None,
    sweep_id: str,
) -> WalkForwardResult:
    """Walk ``plan`` over ``candles`` on ``runner``: per fold, sweep the train window and run the pick out of
    sample; then the final sweep. ``progress(done, total, best)`` counts sets over every sweep (`WalkPlan.total`).
    The final sweep's table rides in ``meta["_table"]`` for the driver to write."""
    spec, sets, opts, obj, cons = plan.spec, plan.sets, plan.options, plan.objective, plan.constraints
    total = plan.total
    names = tuple(p.name for p in spec.params)
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
        return sweep_result(spec, part, opts, sets, table, obj, cons, plan.skipped)

    rows: list[dict[str, Any]] = []
    pieces: list[tuple[Any, Candles]] = []
    for fold in plan.folds:
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
        if stats["total_trades"] < plan.min_trades:
            row["warning"] = (
                f"fold {fold.number}: {stats['total_trades']} trades out of sample (fewer than {plan.min_trades})"
            )
        rows.append(row)
        pieces.append((sim, test))
    last = plan.folds[-1]
    n = len(candles)
    length = last.train[1] - last.train[0]
    final_window = (0, n) if plan.mode == "anchored" else (max(0, n - length), n)
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
        mode=plan.mode,
        purge_bars=plan.purge,
        embargo_bars=plan.embargo,
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
