"""The simulator's runner for ``impl = "engine"``: each run in a worker process (trio-parallel), never on the loop.

A cancel kills the worker (``kill_on_cancel``), so it takes effect at once, however long the strategy would run.
A worker that dies (a crashing strategy, ``os._exit``, a segfault) fails its run with the error recorded; the
service goes on and later runs get a fresh worker.

The worker writes the result document and the CSV artifacts itself (`spark.service.evidence`, atomic), so the big result
never crosses back to the event loop: only the summary does. Errors come back as values (a message), because
exceptions with custom constructors do not survive pickling. Progress goes through a small file per run, which the
worker replaces atomically at each phase (`spark.service.runner.PHASES`) and the runner polls: cheap, and it needs
nothing shared between the processes.

Workers die with the server: `init_worker` (the worker context's ``init``) starts a thread in each worker that
waits on the parent's sentinel and ends the worker the moment the parent is gone, even by ``kill -9``. Not
``PR_SET_PDEATHSIG``: trio-parallel starts workers from a helper thread, and that signal fires when the thread
that forked exits, not the process.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
import trio_parallel

from spark.actors.messages import Job, Outcome, ProgressFn, Runner
from spark.config import Settings
from spark.errors import SparkError
from spark.plugin.manager import PluginSet, build_plugins

__all__ = [
    "PROGRESS_FOLDER",
    "PROGRESS_POLL_S",
    "RunFailed",
    "engine_runner",
    "init_worker",
    "open_engine_tier",
    "warm_up",
    "work",
]

log = logging.getLogger(__name__)

PROGRESS_POLL_S = 0.2  # how often a running run's progress file is read
PROGRESS_FOLDER = ".progress"  # inside the evidence folder: per-run progress files of engine workers
WORKER_IDLE_S = 600.0  # an idle worker process lives this long, ready for the next run
WORKER_GRACE_S = 5.0  # at shutdown, idle workers get this long to exit before they are killed
ORPHAN_EXIT_CODE = 1


class RunFailed(SparkError):
    """The run failed in its worker; the message is the error to record, ``outcome`` what it found before."""

    def __init__(self, message: str, outcome: Outcome | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome or Outcome()


def work(
    job: Job,
    data_dir: Path,
    plugin_set: PluginSet,
    evidence_dir: Path,
    progress_path: Path | None,
) -> tuple[str, Any]:
    """In the worker process: execute the job, write its result and artifacts. Returns ("ok", Outcome) or
    ("error", (message, Outcome with the market found before the failure))."""
    from spark.actors.simulator import describe_error
    from spark.service.denials import denial_counts
    from spark.service.evidence import write_result
    from spark.service.runner import PHASES, execute

    market: dict[str, Any] = {}

    def loaded(candles: Any) -> None:
        market.update(pair=candles.symbol or "", timeframe=candles.timeframe or "", bars=len(candles))

    def report(fraction: float, phase: str) -> None:
        if progress_path is not None:
            _write_progress(progress_path, fraction, phase, market)

    try:
        result = execute(
            job.request,
            data_dir=data_dir,
            plugin_set=plugin_set,
            run_id=job.run_id,
            started_at=job.started_at,
            progress=report,
            loaded=loaded,
        )
        write_result(evidence_dir, result)  # the CSVs are rendered from it when downloaded
        report(PHASES["evidence"], "evidence")
    except Exception as exc:
        return "error", (describe_error(exc), Outcome(**market))
    stats = dict(result.report.stats)
    return "ok", Outcome(stats=stats, artifacts=("result",), denials=denial_counts(result), **market)


def init_worker() -> bool:
    """Worker start-up: a lower CPU priority, so the event loop (/health, SSE, mutations) wins a busy CPU, and a
    daemon thread that ends this process once its parent is gone. True: trio-parallel keeps the worker."""
    os.nice(10)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="spark-parent-watch", daemon=True).start()
    return True


def _exit_with(sentinel: int) -> None:
    """Block until ``sentinel`` (the parent's end of a pipe) is readable, i.e. the parent died; then exit at once,
    without cleanup: whatever the worker was computing belongs to a server that no longer exists."""
    multiprocessing.connection.wait([sentinel])
    os._exit(ORPHAN_EXIT_CODE)


def warm_up(plugin_set: PluginSet) -> None:
    """In a fresh worker: import the engine and the plugins' modules, so the first run does not pay for them."""
    build_plugins(plugin_set)


def _write_progress(path: Path, fraction: float, phase: str, market: dict[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"progress": round(fraction, 4), "phase": phase, **market}))
    os.replace(tmp, path)


def _read_progress(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("progress"), int | float) else None


def engine_runner(
    settings: Callable[[], Settings],
    *,
    evidence_dir: Path,
    progress_dir: Path | None,
    plugin_set: Callable[[], PluginSet],
    context: trio_parallel.WorkerContext | None = None,
) -> Runner:
    """The Runner for real engine runs. ``context`` is the system's worker context (its workers end with it);
    ``progress_dir`` holds the per-run progress files (None: no progress between 0 and done); ``plugin_set``
    gives the system's plugin set in force, which each run's worker builds its plugins from."""
    limiter = trio.CapacityLimiter(max(1, settings().max_concurrent))

    async def run_engine(job: Job, progress: ProgressFn) -> Outcome:
        s = settings()
        limiter.total_tokens = max(1, s.max_concurrent)  # the scheduler enforces it; this only never adds a cap
        path = None if progress_dir is None else progress_dir / f"{job.run_id}.progress"
        plugins = job.plugins if job.plugins is not None else plugin_set()  # the generation it was accepted under
        fn = functools.partial(work, job, s.data_dir, plugins, evidence_dir, path)
        try:
            async with trio.open_nursery() as nursery:
                if path is not None:
                    nursery.start_soon(_follow_progress, path, progress)
                try:
                    run_sync = trio_parallel.run_sync if context is None else context.run_sync
                    verdict, value = await run_sync(fn, kill_on_cancel=True, limiter=limiter)
                except trio_parallel.BrokenWorkerError as exc:
                    verdict, value = "error", (f"the worker process died ({_cause(exc)})", Outcome())
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            if path is not None:
                with contextlib.suppress(OSError):
                    await trio.Path(path).unlink(missing_ok=True)
        if verdict != "ok":
            raise RunFailed(*value)
        return value

    return run_engine


async def _follow_progress(path: Path, progress: ProgressFn) -> None:
    last: dict[str, Any] | None = None
    while True:
        await trio.sleep(PROGRESS_POLL_S)
        doc = await trio.to_thread.run_sync(_read_progress, path)
        if doc is not None and doc != last:
            last = doc
            await progress(
                float(doc["progress"]),
                pair=doc.get("pair") or None,
                timeframe=doc.get("timeframe") or None,
                bars=doc.get("bars"),
            )


def _cause(exc: BaseException) -> str:
    """``exit code -9`` style detail from a BrokenWorkerError, if it carries one."""
    for arg in exc.args:
        code = getattr(arg, "exitcode", None)
        if code is not None:
            return f"exit code {code}"
    return str(exc) or type(exc).__name__


@asynccontextmanager
async def open_engine_tier(
    settings: Callable[[], Settings],
    *,
    evidence_dir: Path,
    plugin_set: Callable[[], PluginSet],
    warm: bool,
) -> AsyncIterator[Runner]:
    """The engine's worker tier: the worker processes (trio-parallel), the runs' progress folder (emptied: files a
    dead process left are stale), and the Runner over them; with ``warm``, one worker starts ahead of the first
    run. On exit idle workers get WORKER_GRACE_S to end; one that does not is killed, which trio-parallel reports as
    an error: logged, never a failed shutdown (nothing of a run is lost with an idle worker)."""
    progress_dir = await trio.to_thread.run_sync(_fresh_progress_dir, Path(evidence_dir))
    try:
        async with (
            trio_parallel.open_worker_context(
                idle_timeout=WORKER_IDLE_S, grace_period=WORKER_GRACE_S, init=init_worker
            ) as context,
            trio.open_nursery() as nursery,
        ):
            if warm:
                nursery.start_soon(_warm_up, context, plugin_set())
            try:
                yield engine_runner(
                    settings,
                    evidence_dir=evidence_dir,
                    progress_dir=progress_dir,
                    plugin_set=plugin_set,
                    context=context,
                )
            finally:
                nursery.cancel_scope.cancel()
    except trio_parallel.BrokenWorkerError as exc:
        log.warning("worker processes had to be killed at shutdown: %s", exc.args[0] if exc.args else exc)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, progress_dir, True)


def _fresh_progress_dir(evidence_dir: Path) -> Path:
    folder = evidence_dir / PROGRESS_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _warm_up(context: trio_parallel.WorkerContext, plugins: PluginSet) -> None:
    """Start one worker ahead of the first run (imports, plugins); a failure here only costs the first run time."""
    try:
        await context.run_sync(functools.partial(warm_up, plugins), kill_on_cancel=True)
    except Exception as exc:
        log.warning("warming up a worker failed: %s", exc)
