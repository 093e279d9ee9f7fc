"""TPE search through optuna's ask/tell interface, in fixed batches, with a journal file that makes it resumable.

Each round asks ``batch_size`` trials (fewer in the last round), evaluates the batch on the executor, and tells
every value before the next round: the sampler sees the same history whatever the worker count, so a seeded
search proposes the same sets on one core, two, or a Ray cluster. Combinations the strategy refuses are told as
pruned (skipped, counted); a set whose objective is undefined is told as failed. With a journal file, every trial
is recorded as it is told; resuming loads the study, keeps the trials already done (their rows are recomputed,
which is exact: the engine is deterministic) and asks only the rest.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import StrategySpec, validate_params
from spark.errors import ParamError
from spark.research.executors import Executor
from spark.research.jobs import Cancelled, SweepJob
from spark.research.result import Objective
from spark.research.space import Dimension

__all__ = ["run_tpe"]


def _suggest(trial: Any, dim: Dimension) -> Any:
    if dim.choices:
        return trial.suggest_categorical(dim.name, list(dim.choices))
    if dim.type == "int":
        step = int(dim.step) if dim.step else 1
        return trial.suggest_int(dim.name, int(dim.low), int(dim.high), step=step, log=dim.log and step == 1)
    return trial.suggest_float(dim.name, float(dim.low), float(dim.high), step=dim.step, log=dim.log and not dim.step)


def _study(journal: Path | None, name: str, seed: int, maximise: bool) -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover (a declared dependency)
        raise ParamError("method tpe needs optuna: pip install optuna", field="method") from exc
    optuna.logging.set_verbosity(logging.WARNING)
    storage = None
    if journal is not None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        journal.parent.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=seed),
        direction="maximize" if maximise else "minimize",
        load_if_exists=True,
    )


def run_tpe(
    job: SweepJob,
    spec: StrategySpec,
    dims: list[Dimension],
    *,
    trials: int,
    seed: int,
    objective: Objective,
    constraints: dict[str, tuple[str, float]],
    executor: Executor,
    batch_size: int = 32,
    progress: Any = None,
    cancel: threading.Event | None = None,
    journal: Path | None = None,
    study_name: str = "spark",
) -> tuple[list[dict[str, Any]], np.ndarray, int]:
    """(sets in trial order, their stats table, skipped count). Stops at ``trials`` trials in the study."""
    from optuna.trial import TrialState

    from spark.research.sweep import evaluate

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParamError(f"batch_size must be a whole number >= 1, got {batch_size!r}", field="batch_size")
    study = _study(journal, study_name, seed, objective.maximise)
    sets: list[dict[str, Any]] = []
    tables: list[np.ndarray] = []
    skipped = 0
    earlier = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    kept = [
        validate_params(spec.params, t.params, check=spec.check)
        for t in earlier
        if t.state == TrialState.COMPLETE or t.state == TrialState.FAIL
    ]
    skipped += sum(1 for t in earlier if t.state == TrialState.PRUNED)
    if kept:
        tables.append(evaluate(job, kept, executor=executor, objective=objective, constraints=constraints))
        sets.extend(kept)
    asked = len(earlier)
    while asked < trials:
        if cancel is not None and cancel.is_set():
            raise Cancelled("sweep cancelled")
        batch = [study.ask() for _ in range(min(batch_size, trials - asked))]
        asked += len(batch)
        valid, runs = [], []
        for trial in batch:
            raw = {dim.name: _suggest(trial, dim) for dim in dims}
            try:
                params = validate_params(spec.params, raw, check=spec.check)
            except ParamError:
                study.tell(trial, state=TrialState.PRUNED)
                skipped += 1
                continue
            valid.append(params)
            runs.append(trial)
        if not valid:
            continue
        done_before = len(sets)

        def report(done: int, total: int, best: Any, base: int = done_before, gone: int = skipped) -> None:
            if progress is not None:
                progress(base + done, trials - gone, best)

        table = evaluate(
            job, valid, executor=executor, objective=objective, constraints=constraints, progress=report, cancel=cancel
        )
        for trial, value in zip(runs, table[objective.stat].astype(np.float64), strict=True):
            if np.isfinite(value):
                study.tell(trial, float(value))
            else:
                study.tell(trial, state=TrialState.FAIL)
        sets.extend(valid)
        tables.append(table)
    table = (
        np.concatenate(tables)
        if tables
        else evaluate(job, [], executor=executor, objective=objective, constraints=constraints)
    )
    return sets, table, skipped
