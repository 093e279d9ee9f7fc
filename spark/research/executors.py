"""Where a sweep's chunks run: in this process, a local process pool, or a Ray cluster. Same results everywhere.

Every executor takes the same job and the same chunks (lists of parameter sets, by index) and reports each
finished chunk as ``on_chunk(chunk_number, accumulators)``; the driver puts rows back by index, so neither the
worker count, the chunk size nor the order chunks finish in changes a result. ``cancel`` (a threading.Event) is
polled at least every 0.1 s: a local pool is terminated, Ray tasks are cancelled (force), and `Cancelled` raised.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from spark.research import jobs
from spark.research.jobs import Cancelled, SweepJob

__all__ = ["Executor", "InlineExecutor", "LocalExecutor", "RayExecutor", "make_executor"]

OnChunk = Callable[[int, np.ndarray], None]
Chunks = Sequence[Sequence[Mapping[str, Any]]]
_POLL_S = 0.1


class Executor(Protocol):
    name: str
    workers: int

    def run(self, job: SweepJob, chunks: Chunks, on_chunk: OnChunk, cancel: threading.Event | None) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Chunks run one after another in this process (small sweeps, tests, a worker that is itself a worker)."""

    name = "inline"
    workers = 1

    def run(self, job: SweepJob, chunks: Chunks, on_chunk: OnChunk, cancel: threading.Event | None) -> None:
        jobs.install(job)
        for k, sets in enumerate(chunks):
            if cancel is not None and cancel.is_set():
                raise Cancelled("sweep cancelled")
            on_chunk(k, jobs.run_chunk(sets))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": 1}

    def close(self) -> None:
        return None


class LocalExecutor:
    """A process pool (forkserver: workers start clean, without the parent's threads or trio state). The job is
    handed to each worker once by the initializer; chunks are tasks, a few per worker, never one per set."""

    name = "local"

    def __init__(self, workers: int | None = None, context: str = "forkserver") -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.context = context
        self._open: tuple[str, Any] | None = None

    def _pool(self, job: SweepJob) -> Any:
        if self._open is not None and self._open[0] == job.key:
            return self._open[1]
        self.close()
        ctx = multiprocessing.get_context(self.context)
        pool = ctx.Pool(processes=self.workers, initializer=jobs.install, initargs=(job,))
        self._open = (job.key, pool)
        return pool

    def run(self, job: SweepJob, chunks: Chunks, on_chunk: OnChunk, cancel: threading.Event | None) -> None:
        pool = self._pool(job)
        ok = False
        try:
            pending = {k: pool.apply_async(jobs.run_chunk, (list(sets),)) for k, sets in enumerate(chunks)}
            while pending:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("sweep cancelled")
                finished = [k for k, res in pending.items() if res.ready()]
                if not finished:
                    next(iter(pending.values())).wait(_POLL_S)
                    continue
                for k in sorted(finished):
                    on_chunk(k, pending.pop(k).get())
            ok = True
        finally:
            if not ok:  # cancelled or failed: the workers go at once
                self.close()

    def close(self) -> None:
        """Stop the pool's worker processes (the pool is kept between runs of the same job)."""
        if self._open is not None:
            pool = self._open[1]
            self._open = None
            pool.terminate()
            pool.join()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.workers, "context": self.context}


def _ray_chunk(job: SweepJob, sets: list[dict[str, Any]]) -> np.ndarray:
    return jobs.run_chunk(sets, job)


class RayExecutor:
    """Chunks as Ray tasks: the job is ``ray.put`` once and every task gets its reference (each Ray worker
    installs it on its first chunk). ``address``: ``auto``, ``ray://host:port``, or None for a local cluster;
    an already initialised Ray is used as it is."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = int(workers or 0)
        self._put: tuple[str, Any] | None = None

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("the Ray executor needs ray: pip install 'spark-backtest[ray]'") from exc
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.workers:
                kwargs["num_cpus"] = self.workers
            ray.init(**kwargs)
        return ray

    def run(self, job: SweepJob, chunks: Chunks, on_chunk: OnChunk, cancel: threading.Event | None) -> None:
        ray = self._ray()
        task = ray.remote(_ray_chunk)
        if self._put is None or self._put[0] != job.key:
            self._put = (job.key, ray.put(job))
        ref = self._put[1]
        pending = {task.remote(ref, list(sets)): k for k, sets in enumerate(chunks)}
        try:
            while pending:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("sweep cancelled")
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                for r in done:
                    on_chunk(pending.pop(r), ray.get(r))
        finally:
            for r in pending:
                ray.cancel(r, force=True)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address or "local"}

    def close(self) -> None:
        """Drop the job's object reference (Ray itself stays up: it may be the caller's)."""
        self._put = None


def make_executor(name: str | None = None, *, workers: int | None = None, ray_address: str | None = None) -> Executor:
    """``local`` (default), ``ray`` (also chosen by ``ray_address``), or ``inline``."""
    if name is None:
        name = "ray" if ray_address else "local"
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address, workers)
    if name == "inline":
        return InlineExecutor()
    from spark.errors import ParamError

    raise ParamError(f"executor must be local, ray or inline, got {name!r}", field="executor")
