"""Messages the actors exchange over trio memory channels: frozen, slotted, keyword-only dataclasses.

A request that needs an answer carries a `Reply`: a one-shot slot the receiving actor fills (``set`` or ``fail``)
and the sender awaits. The receiving actor answers every request it takes, also when it is closing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

import trio

from spark.errors import SparkError
from spark.plugin.manager import PluginSet
from spark.plugin.request import RunRequest
from spark.plugin.services import Caller
from spark.service.record import RunRecord

__all__ = [
    "AuditLine",
    "Cancel",
    "CancelRun",
    "ChangeChanged",
    "Committed",
    "Delete",
    "Finished",
    "Job",
    "Launch",
    "LiveChanged",
    "Outcome",
    "Progress",
    "ProgressFn",
    "Reply",
    "RunChanged",
    "RunDeleted",
    "Runner",
    "Start",
    "Stop",
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
    plugins: PluginSet | None = None  # the plugin generation it was accepted under (the worker builds exactly it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a run's execution produced: the report summary (snake_case; None in mock mode), the artifact types
    written, and the market of the candles it ran on (None when it loaded none, as in mock mode)."""

    stats: dict[str, Any] | None = None
    artifacts: tuple[str, ...] = ()
    pair: str | None = None
    timeframe: str | None = None
    bars: int | None = None
    denials: tuple[tuple[str, int], ...] = ()  # orders denied per risk gate (spark_guardrail_denials_total)


class ProgressFn(Protocol):
    """How a runner reports: a fraction 0..1, and the market once its candles are loaded."""

    async def __call__(
        self, value: float, *, pair: str | None = None, timeframe: str | None = None, bars: int | None = None
    ) -> None: ...


# A runner executes one job and returns its Outcome, or raises: the error becomes the run's recorded error (a
# RunFailed carrying an Outcome keeps the market it found).
Runner = Callable[[Job, ProgressFn], Awaitable[Outcome]]


# --- scheduler inbox: requests (from the system), reports (from the simulator), its own commits ------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Start:
    """Start a run: decided by the scheduler, its verdict written (record, then audit) before ``reply`` is
    answered: ``{"id", "status": "queued", "startedAt"}`` or the refusal (Unavailable when the queue is full, the
    evidence or the audit cannot be written)."""

    request: RunRequest
    caller: Caller
    payload: Any  # the body as the client sent it, for the audit line
    accepted_at: float  # trio time the request was accepted: enqueue latency is measured from here
    reply: Reply[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """Cancel a queued or running run: decided by the scheduler, audited, then carried out and answered with
    ``{"ok": true, "id", "status": "failed"}``; NotFound, Conflict (done) or Unavailable (audit) otherwise."""

    run_id: str
    caller: Caller
    reply: Reply[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delete:
    """Delete a done or failed run and its evidence: decided by the scheduler, audited, then carried out and
    answered with ``{"ok": true, "id", "deleted": true}``; NotFound, Conflict (queued or running) otherwise."""

    run_id: str
    caller: Caller
    reply: Reply[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeChanged:
    """For the broadcaster: a change request moved (SSE ``event: change``), with the active sets now."""

    request: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDeleted:
    """For the broadcaster: a run is gone (SSE ``event: deleted``)."""

    run_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Wake:
    """Settings changed (SIGHUP): look again whether more runs may start."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """Shut down: every queued or running run ends failed, "interrupted"; the scheduler ends once nothing it
    started is still going."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Committed:
    """The scheduler's own report: the verdict on ``run_id`` (a start or a cancel) is written (``error`` None) or
    could not be (``error`` is what the client is answered)."""

    kind: Literal["start", "cancel", "delete"]
    run_id: str
    reply: Reply[dict[str, Any]]
    error: SparkError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    run_id: str
    progress: float
    pair: str | None = None
    timeframe: str | None = None
    bars: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """A run's execution ended: ``error`` None means done. Sent also for a cancelled run, once its worker is gone
    (that frees the concurrency slot)."""

    run_id: str
    outcome: Outcome = field(default_factory=Outcome)
    error: str | None = None


# --- scheduler -> simulator -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    job: Job


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRun:
    run_id: str


# --- broadcaster inbox ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunChanged:
    record: RunRecord


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


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveChanged:
    """For the broadcaster: a live session changed (SSE ``event: live``): ``{session, candles, fills, trades,
    equity}`` (`spark.market.session`)."""

    event: dict[str, Any]
