"""`run_sweep`: many parameter sets of one strategy over one candle series, on an executor, with progress,
cooperative cancel and an evidence folder. The driver API the CLI and the service build on.

    result = run_sweep(candles, "sma_cross", grid={"fast": "5:50:5", "slow": "20:200:10"}, fee=0.001)
    result.best, result.top(10), result.table, result.to_json()

Sets are generated here (grid order, or drawn from one seeded generator), cut into chunks, evaluated by the
executor, and put back by index: the same sweep gives the same table whatever the executor, worker count or chunk
size. ``progress(done, total, best)`` is called as chunks finish (``best`` the best row so far, or None);
``cancel`` (a threading.Event) stops the sweep within a second (`Cancelled`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import Candles, Options, StrategySpec
from spark.engine.stats import annualisation
from spark.engine.sweep import stats_table
from spark.engine.sweep_kernel import ACC_COLS
from spark.errors import ParamError
from spark.ids import wall_ms
from spark.plugin.manager import Plugins, installed_plugins
from spark.research import evidence
from spark.research.executors import Executor, InlineExecutor, make_executor
from spark.research.jobs import SweepJob, job_for
from spark.research.result import Objective, SweepResult, build_table, parse_constraints, parse_objective
from spark.research.space import DEFAULT_MAX_SETS, expand_grid, parse_space, sample_random

__all__ = [
    "OPTION_NAMES",
    "Progress",
    "check_inputs",
    "evaluate",
    "make_options",
    "new_sweep_id",
    "resolve_strategy",
    "run_sweep",
    "sweep_result",
]

OPTION_NAMES = ("cash", "fee", "slippage_bps", "size", "size_pct", "fill", "periods_per_year", "margin", "gates")
Progress = Callable[[int, int, dict[str, Any] | None], None]
METHODS = ("grid", "random", "tpe")


def new_sweep_id(now_ms: int, kind: str = "sw") -> str:
    """``sw-<ms>-<8 hex>`` (a sweep) or ``wf-<ms>-<8 hex>`` (a walk-forward)."""
    import secrets

    if kind not in ("sw", "wf"):
        raise ValueError(f"kind must be sw or wf, got {kind!r}")
    return f"{kind}-{now_ms}-{secrets.token_hex(4)}"


def resolve_strategy(strategy: str | StrategySpec, plugins: Plugins | None = None) -> StrategySpec:
    if isinstance(strategy, StrategySpec):
        return strategy
    return (plugins if plugins is not None else installed_plugins()).strategy(strategy)


def make_options(options: Mapping[str, Any]) -> Options:
    """Run options by their Python names (``fee``, ``slippage_bps``, ...); an unknown one is a ParamError."""
    for name in options:
        if name not in OPTION_NAMES:
            raise ParamError(f"unknown option {name!r} (allowed: {', '.join(OPTION_NAMES)})", field=f"options.{name}")
    try:
        return Options(**options)
    except ParamError as exc:
        raise ParamError(str(exc), field=f"options.{exc.field}" if exc.field else "options") from None


def check_inputs(
    candles: Candles,
    strategy: str | StrategySpec,
    plugins: Plugins | None,
    options: Mapping[str, Any],
    objective: str | Objective,
    constraints: Mapping[str, Any] | None,
) -> tuple[StrategySpec, Options, Objective, dict[str, tuple[str, float]]]:
    """What both drivers check first, in this order (the first ParamError wins): the candles, the strategy, the run
    options, the objective and the constraints."""
    if not isinstance(candles, Candles):
        raise ParamError(f"candles must be spark.Candles, got {type(candles).__name__}", field="candles")
    spec = resolve_strategy(strategy, plugins)
    return spec, make_options(options), parse_objective(objective), parse_constraints(constraints)


def sweep_result(
    spec: StrategySpec,
    candles: Candles,
    options: Options,
    sets: Sequence[dict[str, Any]],
    table: np.ndarray,
    objective: Objective,
    constraints: dict[str, tuple[str, float]],
    skipped: int,
    **extra: Any,
) -> SweepResult:
    """The stats ``table`` of ``sets`` (`evaluate`) as a SweepResult: the parameters beside the stats, annualised
    as ``candles`` and ``options`` say; ``extra`` are SweepResult's other fields (method, seed, id...)."""
    ppy, basis = annualisation(candles, options)
    names = tuple(p.name for p in spec.params)
    return SweepResult(
        strategy=spec.name,
        param_names=names,
        table=build_table(names, [p.type for p in spec.params], sets, table),
        objective=objective,
        constraints=constraints,
        skipped=skipped,
        periods_per_year=ppy,
        annualisation=basis,
        **extra,
    )


def default_chunk(total: int, workers: int) -> int:
    """A few chunks per worker (balance), never more than 512 sets per chunk (progress, cancel)."""
    return max(1, min(512, math.ceil(total / max(1, workers * 4))))


class _Tracker:
    """The stats rows as chunks arrive, and the best row so far (for progress)."""

    def __init__(
        self,
        candles: Candles,
        options: Options,
        chunks: list[list[dict[str, Any]]],
        objective: Objective,
        constraints: dict[str, tuple[str, float]],
        progress: Progress | None,
        offsets: list[int],
    ) -> None:
        self.candles, self.options, self.chunks = candles, options, chunks
        self.objective, self.constraints, self.progress = objective, constraints, progress
        self.offsets = offsets
        self.total = sum(len(c) for c in chunks)
        self.acc: np.ndarray | None = None
        self.done = 0
        self.best: tuple[float, int] | None = None
        self.best_row: dict[str, Any] | None = None

    def __call__(self, k: int, acc: np.ndarray) -> None:
        if self.acc is None:
            self.acc = np.zeros((self.total, acc.shape[1]))
        start = self.offsets[k]
        self.acc[start : start + len(acc)] = acc
        self.done += len(acc)
        if self.progress is None:
            return
        table, _, _ = stats_table(acc, self.candles, self.options)
        values = table[self.objective.stat].astype(np.float64)
        ok = np.isfinite(values)
        for rule, bound in self.constraints.values():
            kind, stat = rule.split(":")
            v = table[stat].astype(np.float64)
            with np.errstate(invalid="ignore"):
                ok &= (v >= bound) if kind == "min" else (v <= bound)
        for i in np.flatnonzero(ok):
            key = -values[i] if self.objective.maximise else values[i]
            cand = (float(key), start + int(i))
            if self.best is None or cand < self.best:
                self.best = cand
                self.best_row = {"index": start + int(i), "params": self.chunks[k][int(i)], "value": float(values[i])}
        self.progress(self.done, self.total, self.best_row)


def evaluate(
    job: SweepJob,
    sets: Sequence[dict[str, Any]],
    *,
    executor: Executor,
    chunk_size: int | None = None,
    objective: Objective,
    constraints: dict[str, tuple[str, float]],
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """The stats table of ``sets`` (row i is set i), evaluated on ``executor`` in chunks."""
    size = chunk_size or default_chunk(len(sets), executor.workers)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ParamError(f"chunk_size must be a whole number >= 1, got {size!r}", field="chunk_size")
    chunks = [list(sets[i : i + size]) for i in range(0, len(sets), size)]
    offsets = list(range(0, len(sets), size))
    tracker = _Tracker(job.candles, job.options, chunks, objective, constraints, progress, offsets)
    if chunks:
        executor.run(job, chunks, tracker, cancel)
    acc = tracker.acc if tracker.acc is not None else np.zeros((0, ACC_COLS))
    table, _, _ = stats_table(acc, job.candles, job.options)
    return table


def run_sweep(
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
    executor: Executor | str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    evidence_dir: Path | str | None = None,
    sweep_id: str | None = None,
    resume: bool = False,
    plugins: Plugins | None = None,
    max_sets: int = DEFAULT_MAX_SETS,
    context: Mapping[str, Any] | None = None,
    **options: Any,
) -> SweepResult:
    """Sweep ``strategy`` over ``grid`` (every combination) or ``space`` (``method="random"`` or ``"tpe"``,
    ``trials`` sets, ``seed``). ``objective`` ranks (a stat; ``"min:stat"``/``"max:stat"``), ``constraints``
    (``{"min_trades": 10}``) filter; ``options`` are run_backtest's (``fee=``, ``size_pct=``...). ``executor``:
    an Executor, ``"local"`` (process pool, ``workers``), ``"ray"`` or ``"inline"``; default local for large
    sweeps, inline for small ones. With ``evidence_dir``, writes ``sweeps/<id>/`` (``sweep_id`` or a new
    ``sw-`` id; running, then done or failed). Raises ParamError on bad input before anything runs or is
    written; Cancelled when ``cancel`` was set."""
    spec, opts, obj, cons = check_inputs(candles, strategy, plugins, options, objective, constraints)
    method = method or ("grid" if grid is not None else "random")
    if method not in METHODS:
        raise ParamError(f"method must be one of {', '.join(METHODS)}, got {method!r}", field="method")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamError(f"seed must be a whole number >= 0, got {seed!r}", field="seed")
    if method == "grid":
        if grid is None or space is not None:
            raise ParamError("a grid sweep takes grid (and no space)", field="grid")
        sets, skipped = expand_grid(spec, grid, max_sets=max_sets)
        spec_doc: dict[str, Any] = {"grid": {k: v if isinstance(v, str) else list(v) for k, v in grid.items()}}
    else:
        if space is None or grid is not None:
            raise ParamError(f"a {method} sweep takes space (and no grid)", field="space")
        dims = parse_space(spec, space)
        if trials is None or isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= max_sets:
            raise ParamError(f"trials must be a whole number in 1..{max_sets}, got {trials!r}", field="trials")
        spec_doc = {"space": {d.name: d.to_json() for d in dims}, "trials": trials}
        sets, skipped = sample_random(spec, dims, trials, seed) if method == "random" else ([], 0)
    owned = not hasattr(executor, "run")
    runner = _executor(executor, workers, (len(sets) if method != "tpe" else int(trials or 0)) * len(candles))
    folder = None
    sweep_id = sweep_id or new_sweep_id(wall_ms())
    doc: dict[str, Any] = {
        "id": sweep_id,
        "kind": "sweep",
        "status": "running",
        "strategy": spec.name,
        "strategyVersion": spec.version,
        "spec": {
            **spec_doc,
            "method": method,
            "objective": obj.to_json(),
            "constraints": {k: v[1] for k, v in cons.items()},
            "options": opts.to_json(),
        },
        "data": evidence.candles_doc(candles),
        "executor": runner.describe(),
        "chunking": {"chunkSize": chunk_size or default_chunk(len(sets), runner.workers)},
        "seeds": {"seed": seed},
        "startedAt": wall_ms(),
        "finishedAt": None,
        "error": None,
        "context": dict(context or {}),
    }
    if evidence_dir is not None:
        folder = evidence.sweep_folder(evidence_dir, sweep_id)
        if resume and (folder / evidence.SWEEP_JSON).exists():
            doc["startedAt"] = evidence.read_sweep(folder)[0].get("startedAt", doc["startedAt"])
        evidence.write_json(folder, doc)
    job = job_for(sweep_id, candles, spec, opts)
    t0 = time.perf_counter()
    with evidence.recording(folder, doc, runner.close if owned else None):
        if method == "tpe":
            from spark.research.tpe import run_tpe

            sets, table, skipped = run_tpe(
                job,
                spec,
                dims,
                trials=int(trials or 0),
                seed=seed,
                objective=obj,
                constraints=cons,
                executor=runner,
                batch_size=batch_size,
                progress=progress,
                cancel=cancel,
                journal=None if folder is None else folder / evidence.JOURNAL,
                study_name=sweep_id,
            )
        else:
            table = evaluate(
                job,
                sets,
                executor=runner,
                chunk_size=chunk_size,
                objective=obj,
                constraints=cons,
                progress=progress,
                cancel=cancel,
            )
    result = sweep_result(spec, candles, opts, sets, table, obj, cons, skipped, method=method, seed=seed, id=sweep_id)
    result.meta["seconds"] = round(time.perf_counter() - t0, 3)
    if folder is not None:
        evidence.write_table(folder, result.table)
        summary = result.to_json()
        doc.update(
            status="done",
            finishedAt=wall_ms(),
            total=len(result),
            skipped=skipped,
            best=summary["best"],
            top=summary["top"],
            seconds=summary["seconds"],
        )
        evidence.write_json(folder, doc)
    return result


INLINE_BAR_SETS = 20_000_000  # below this much work (sets x bars), a pool costs more than it saves


def _executor(executor: Executor | str | None, workers: int | None, work: int) -> Executor:
    """The executor asked for, or (None) in this process for small sweeps and a local pool otherwise."""
    if executor is None:
        small = work < INLINE_BAR_SETS or workers == 1
        return InlineExecutor() if small else make_executor("local", workers=workers)
    if isinstance(executor, str):
        return make_executor(executor, workers=workers)
    return executor
