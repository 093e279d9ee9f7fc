"""The simulator's own pieces: the error recorded for a failed run, and the mock runner's timing."""

from __future__ import annotations

from dataclasses import replace

import trio

from spark.actors.messages import Job
from spark.actors.simulator import describe_error, mock_runner
from spark.config import Settings
from spark.errors import ParamError
from spark.plugin.request import RunRequest


def test_the_recorded_error_names_the_cause():
    assert describe_error(ParamError("fast must be < slow", field="params.fast")) == "fast must be < slow"
    assert describe_error(ZeroDivisionError("division by zero")) == "ZeroDivisionError: division by zero"
    assert describe_error(MemoryError()) == "MemoryError"
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [OSError("disk full")])])
    assert describe_error(nested) == "OSError: disk full"  # not "ExceptionGroup: ..."
    two = ExceptionGroup("two", [OSError("a"), ValueError("b")])
    assert describe_error(two).startswith("ExceptionGroup: two")


async def test_a_mock_run_reports_quarters_then_ends_after_the_delay(autojump_clock):
    settings = replace(Settings(), mock_delay_s=3.5)
    reports: list[tuple[float, float]] = []

    async def progress(value: float) -> None:
        reports.append((trio.current_time(), value))

    job = Job(run_id="bt-1700000000000-00000000", request=RunRequest(), impl="mock", started_at=1_700_000_000_000)
    start = trio.current_time()
    outcome = await mock_runner(lambda: settings)(job, progress)
    assert trio.current_time() - start == 3.5
    assert [(t - start, v) for t, v in reports] == [(0.875, 0.25), (1.75, 0.5), (2.625, 0.75)]
    assert outcome.stats is None and outcome.artifacts == ()  # it computes nothing
