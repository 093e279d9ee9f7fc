"""The simulator: executes launched jobs, each in its own task under its own cancel scope, with the runner of the
job's ``impl`` ("engine": a killable worker process; "mock": a timed run that computes nothing).

It reports into the scheduler's inbox: ``Progress`` while a run goes (with the candles' market once loaded), then
exactly one ``Finished`` per launched job (also for a cancelled one, once its worker is gone, so the scheduler
knows the slot is free). The scheduler sends a job's CancelRun only after its Launch, on the same channel, so a
cancel always finds the scope it is meant for (a scope cancelled before its task runs cancels it at once). A runner
that raises fails its run with the error recorded; the simulator goes on. When its inbox closes it cancels every
job still going, sends their last reports and closes its side of the report channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import trio

from spark.actors.messages import CancelRun, Finished, Job, Launch, Outcome, Progress, ProgressFn, Runner
from spark.config import Settings
from spark.errors import SparkError

__all__ = ["MOCK_STEPS", "describe_error", "mock_runner", "run"]

log = logging.getLogger(__name__)

MOCK_STEPS = 4  # a mock run reports 1/4, 2/4, 3/4, then ends (each report fans out to every stream client)


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    reports: trio.MemorySendChannel,
    runners: Mapping[str, Runner],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` (Launch, CancelRun) until it closes; see the module docstring. ``reports`` is the
    scheduler's inbox."""
    scopes: dict[str, trio.CancelScope] = {}
    async with inbox, reports, trio.open_nursery() as nursery:
        task_status.started()
        async for message in inbox:
            if isinstance(message, Launch):
                scope = trio.CancelScope()
                scopes[message.job.run_id] = scope
                nursery.start_soon(_execute, message.job, runners.get(message.job.impl), scope, reports, scopes)
            elif isinstance(message, CancelRun):
                scope = scopes.get(message.run_id)
                if scope is not None:
                    scope.cancel()
            else:  # pragma: no cover - a programming error, loud on purpose
                raise TypeError(f"simulator: unexpected message {message!r}")
        for scope in scopes.values():
            scope.cancel()


async def _execute(
    job: Job,
    runner: Runner | None,
    scope: trio.CancelScope,
    reports: trio.MemorySendChannel,
    scopes: dict[str, trio.CancelScope],
) -> None:
    async def progress(
        value: float, *, pair: str | None = None, timeframe: str | None = None, bars: int | None = None
    ) -> None:
        fraction = min(1.0, max(0.0, float(value)))
        report = Progress(run_id=job.run_id, progress=fraction, pair=pair, timeframe=timeframe, bars=bars)
        await reports.send(report)

    finished = Finished(run_id=job.run_id, error="cancelled")
    with scope:
        try:
            if runner is None:
                raise SparkError(f"no runner for impl {job.impl!r}")
            outcome = await runner(job, progress)
            finished = Finished(run_id=job.run_id, outcome=outcome)
        except Exception as exc:
            log.warning("run %s failed: %s", job.run_id, describe_error(exc))
            outcome = getattr(exc, "outcome", None)
            finished = Finished(
                run_id=job.run_id,
                error=describe_error(exc),
                outcome=outcome if isinstance(outcome, Outcome) else Outcome(),
            )
    scopes.pop(job.run_id, None)
    await reports.send(finished)


def describe_error(exc: BaseException) -> str:
    """The error recorded on a failed run: our own errors by their message, others with their type."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, SparkError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def mock_runner(settings: Callable[[], Settings]) -> Runner:
    """BACKTEST_IMPL=mock (the seed's safe mode): the run ends done after ``mock_delay_s`` without computing, its
    progress rising with time in MOCK_STEPS steps."""

    async def run_mock(job: Job, progress: ProgressFn) -> Outcome:
        delay = settings().mock_delay_s
        start = trio.current_time()
        for step in range(1, MOCK_STEPS + 1):
            await trio.sleep_until(start + delay * step / MOCK_STEPS)
            if step < MOCK_STEPS:
                await progress(step / MOCK_STEPS)
        return Outcome()

    return run_mock
