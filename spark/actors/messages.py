"""Messages the actors exchange over trio memory channels: frozen, slotted, keyword-only dataclasses.

A request that needs an answer carries a `Reply`: a one-shot slot the receiving actor fills (``set`` or ``fail``)
and the sender awaits. The receiving actor answers every request it takes, also when it is closing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import trio

from spark.plugin.request import RunRequest

__all__ = [
    "AuditLine",
    "Cancel",
    "CancelRun",
    "Finished",
    "Job",
    "Launch",
    "Outcome",
    "Progress",
    "ProgressFn",
    "Release",
    "Reply",
    "Reserve",
    "RunChanged",
    "Runner",
    "Submit",
    "Subscribe",
    "Unsubscribe",
    "Wake",
]

T = TypeVar("T")


class Reply(Generic[T]):
    """A one-shot answer: the actor calls ``set(value)`` or ``fail(error)`` once; the asker awaits ``wait()``."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> T:
        """The value, or raise the error the actor failed the request with."""
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


# --- what a run is, for the simulator -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One run to execute: picklable (it crosses into a worker process)."""

    run_id: str
    request: RunRequest
    impl: str
    started_at: int  # epoch ms: the run's id time


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a finished run produced: the report summary (None in mock mode) and the artifact types written."""

    stats: dict[str, Any] | None = None
    artifacts: tuple[str, ...] = ()


ProgressFn = Callable[[float], Awaitable[None]]
# A runner executes one job and returns its Outcome, or raises: the error becomes the run's recorded error.
Runner = Callable[[Job, ProgressFn], Awaitable[Outcome]]


# --- scheduler inbox (from the system) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reserve:
    """Hold one queue slot while the start is audited; fails with Unavailable when the queue is full."""

    reply: Reply[None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """Give back a reserved slot (the audit failed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit:
    """Queue a job in a reserved slot; answered once the queued record is on disk."""

    job: Job
    accepted_at: float  # trio time the request was accepted: enqueue latency is measured from here
    reply: Reply[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """Cancel a queued or running run; answered with the wire answer once the record is on disk."""

    run_id: str
    reply: Reply[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Wake:
    """Settings changed (SIGHUP): look again whether more runs may start."""


# --- scheduler <-> simulator ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    job: Job


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRun:
    run_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    run_id: str
    progress: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """A run's execution ended: ``error`` None means done. Sent also for a cancelled run, once its worker is gone
    (that frees the concurrency slot)."""

    run_id: str
    outcome: Outcome = field(default_factory=Outcome)
    error: str | None = None


# --- broadcaster inbox ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunChanged:
    record: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    last_event_id: int | None
    reply: Reply[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe:
    client_id: int


# --- auditor inbox ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditLine:
    """One audit entry; answered once the line is written and fsynced, or failed with Unavailable."""

    entry: dict[str, Any]
    reply: Reply[None]
