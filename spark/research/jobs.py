"""What a sweep's workers need (shipped once per worker) and the one function they run per chunk of sets.

A worker keeps the job and an indicator cache for it in a module global, set by the pool's initializer (local
pool) or on the first chunk of a job (Ray), so the candles cross the process boundary once per worker, never per
set or per chunk.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spark.engine import Candles, Options, StrategySpec
from spark.engine.sweep import Indicators, evaluate_sets
from spark.errors import SparkError

__all__ = ["Cancelled", "SweepJob", "job_for", "run_chunk"]


class Cancelled(SparkError):
    """The sweep was cancelled before it finished."""


@dataclass(frozen=True, slots=True)
class SweepJob:
    """The candles, the strategy (its spec when it pickles, else its name, resolved in the worker), the run
    options and the first bar that may decide (warm-up). ``key`` names the job in a worker's cache."""

    key: str
    candles: Candles
    strategy: str
    spec: StrategySpec | None
    options: Options
    start: int = 0

    def resolve(self) -> StrategySpec:
        if self.spec is not None:
            return self.spec
        from spark.plugin.manager import build_plugins

        return build_plugins().strategy(self.strategy)


def job_for(key: str, candles: Candles, spec: StrategySpec, options: Options, start: int = 0) -> SweepJob:
    """A job carrying the spec itself when it pickles (a plugin's module-level functions), else its name."""
    try:
        pickle.dumps(spec)
        shipped: StrategySpec | None = spec
    except Exception:
        shipped = None
    return SweepJob(key=key, candles=candles, strategy=spec.name, spec=shipped, options=options, start=start)


_WORKER: dict[str, Any] = {}


def install(job: SweepJob) -> None:
    """Pool initializer: keep the job in this worker process."""
    _WORKER.clear()
    _WORKER["job"] = job
    _WORKER["spec"] = job.resolve()
    _WORKER["ind"] = Indicators(job.candles)


def run_chunk(sets: Sequence[Mapping[str, Any]], job: SweepJob | None = None) -> np.ndarray:
    """Accumulators for ``sets`` with the installed job (or ``job``, installed first when it is a new one)."""
    if job is not None and (_WORKER.get("job") is None or _WORKER["job"].key != job.key):
        install(job)
    return evaluate_sets(
        _WORKER["job"].candles,
        _WORKER["spec"],
        sets,
        _WORKER["job"].options,
        indicators=_WORKER["ind"],
        start=_WORKER["job"].start,
    )
