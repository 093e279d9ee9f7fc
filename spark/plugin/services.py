"""The contract between the running system and the HTTP layer (routes, the write plugin).

`spark.system` builds the one object that implements `Services`; `spark.api.create_app` and plugins' routes get it
and reach the actors only through it. Nothing here knows HTTP: errors are `spark.errors` exceptions, which the
API turns into JSON answers with their status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from prometheus_client import CollectorRegistry

from spark.config import Settings
from spark.metrics import Metrics
from spark.plugin.manager import Plugins, PluginSet
from spark.plugin.request import RunRequest

__all__ = ["Caller", "ReloadStatus", "Services", "StreamEvent", "Subscription"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A user a token belongs to: its name (what the audit records) and role (viewer, operator, approver, admin)."""

    name: str
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Who asked: recorded in the audit line (``ip``, ``user``). ``user`` is the name the token belongs to
    ("admin" for ADMIN_TOKEN), "anonymous" without a token that matched; ``role`` is that user's."""

    ip: str
    user: str = "anonymous"
    role: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEvent:
    """One SSE event: ``kind`` "snapshot" (data ``{"runs": [...], "serverTime"}``) or "run" (a record plus
    ``serverTime``); ``id`` increases globally across the process."""

    id: int
    kind: Literal[
        "snapshot", "run", "deleted", "change", "live", "sweep"
    ]  # snapshot: {"runs": [newest 200], "total", "serverTime"}
    data: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadStatus:
    """What the reloads (SIGHUP, `spark reload`) did: ``attempts`` handled, ``reloads`` of them took effect (the
    last at ``reloaded_at``, epoch ms); ``error`` says why the last attempt was refused, None when it worked."""

    attempts: int = 0
    reloads: int = 0
    reloaded_at: int | None = None
    error: str | None = None

    def succeeded(self, at_ms: int) -> ReloadStatus:
        return replace(self, attempts=self.attempts + 1, reloads=self.reloads + 1, reloaded_at=at_ms, error=None)

    def failed(self, error: str) -> ReloadStatus:
        return replace(self, attempts=self.attempts + 1, error=error)


class Subscription(Protocol):
    """A client's bounded view of the event stream. Iterating yields events in id order; when the client fell
    behind, the backlog is dropped and a fresh snapshot comes instead."""

    def __aiter__(self) -> AsyncIterator[StreamEvent]: ...


class Services(Protocol):
    @property
    def settings(self) -> Settings:
        """The settings in force now (SIGHUP swaps them)."""

    @property
    def plugins(self) -> Plugins: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def metrics(self) -> Metrics:
        """The system's metrics (registered in ``registry``): the HTTP layer counts its requests there."""

    def plugin_generation(self) -> tuple[Any, PluginSet]:
        """(the generation a run started now records, the plugin set its worker builds). A reload that changes
        the installed plugins starts a new generation."""

    def user_for(self, token: bytes) -> Identity | None:
        """The enabled user a token belongs to (ADMIN_TOKEN: ``admin``), or None; constant time over the users."""

    @property
    def users_configured(self) -> bool:
        """Somebody can mutate at all (an ADMIN_TOKEN, or a user in the users file)."""

    def plugin_enabled(self, name: str) -> bool:
        """False once config switches the plugin off (checked per request, so SIGHUP acts at once)."""

    @property
    def reload_status(self) -> ReloadStatus:
        """The reloads so far (served by ``/api/config``, so `spark reload` can tell that one happened)."""

    def healthy(self) -> bool:
        """True while every actor is alive."""

    async def list_runs(
        self,
        limit: int = 100,
        before: str | None = None,
        *,
        status: str | None = None,
        strategy: str | None = None,
        pair: str | None = None,
        sort: str | None = None,
        offset: int = 0,
    ) -> dict[str, Any]:
        """``{"runs": [wire record...], "total": n matching}``, newest first, or by ``sort`` (a wire name, ``-`` first
        for descending; see `spark.service.store.SORT_FIELDS`); ``before`` (a run id) pages the default order,
        ``offset`` a sorted one; filters are exact. Filtering and sorting run off the event loop."""

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The wire record, or None. ``run_id`` must already match the id format."""

    async def run_summary(self, run_id: str) -> dict[str, Any] | None:
        """``{report, metadata}`` of a done run without per-bar or per-trade arrays, or None (read off the event
        loop)."""

    async def equity(
        self, run_id: str, points: int, start_ms: int | None = None, end_ms: int | None = None
    ) -> dict[str, Any] | None:
        """``{timestamp, equity, drawdownPct, benchmark, total}`` of a done run within ``start_ms..end_ms``,
        downsampled to at most ``points`` entries keeping the extremes and the deepest drawdown (a positive
        percent), or None (read and cut down off the event loop)."""

    async def price(self, run_id: str, points: int, start_ms: int | None, end_ms: int | None) -> dict[str, Any]:
        """Candles of a done run's data within the window (at most ``points`` OHLC buckets), its strategy's
        indicator lines and plots, and its trade markers (`spark.service.report.price`). NotFound without a
        result, Conflict when the data changed since the run."""

    async def trades(self, run_id: str, sort: str, limit: int, offset: int) -> dict[str, Any]:
        """One sorted page of a run's trades with their return and duration (`spark.service.report.trade_page`)."""

    async def monthly(self, run_id: str) -> dict[str, Any] | None:
        """Returns per calendar month and year of a done run, or None (`spark.service.report.monthly_returns`)."""

    async def denied(self, run_id: str, limit: int, offset: int, gate: str | None) -> dict[str, Any] | None:
        """``{gates, total, denied, gateStates}``: one page of a done run's risk-gate denials and its account
        states (`spark.service.denials.denied_page`), or None without a result."""

    async def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """``[{type, name, url, bytes}]`` for the run's files that exist."""

    async def artifact_path(self, run_id: str, name: str) -> Path | None:
        """The file of one artifact, only if ``name`` is one of the run's listed artifacts and a file."""

    async def rendered_artifact(self, run_id: str, name: str) -> Iterator[str] | None:
        """The lines of a listed artifact rendered on download (``bytes`` null in the list), or None. The iterator
        blocks: read it in a worker thread."""

    async def audit(
        self, *, action: str, caller: Caller, run_id: str | None, payload: Any, success: bool, error: str | None = None
    ) -> None:
        """Write one audit line and fsync it; raises Unavailable (503) when it cannot be written."""

    async def start(self, request: RunRequest, caller: Caller, payload: Any) -> dict[str, Any]:
        """Queue a run. The scheduler decides; the verdict is written (record, audit) before it is returned:
        ``{"id", "status": "queued", "startedAt"}``, or Unavailable when the queue is full, the service is stopping
        or the evidence or the audit cannot be written (nothing queued then). start and cancel audit every
        outcome they decide; the HTTP layer audits only the attempts it refuses before calling them (auth, rate
        limit, invalid body or id)."""

    async def cancel(self, run_id: str, caller: Caller) -> dict[str, Any]:
        """Cancel a queued or running run (it ends ``failed`` / ``cancelled``, its worker killed, no result files
        left); audited before it is carried out. Returns ``{"ok": true, "id", "status": "failed"}``; a second
        cancel changes nothing. Raises NotFound, Conflict (done), Unavailable (audit)."""

    async def delete(self, run_id: str, caller: Caller) -> dict[str, Any]:
        """Delete a done or failed run and its evidence (audited before it is carried out). Returns ``{"ok": true,
        "id", "deleted": true}``; NotFound, Conflict (queued or running), Unavailable (audit)."""

    def change_requests(self, state: str | None = None) -> list[dict[str, Any]]:
        """Change requests (newest first), each with the active set it would replace."""

    def change_request(self, change_id: str) -> dict[str, Any] | None: ...

    def param_sets(self) -> list[dict[str, Any]]:
        """Every parameter set, active and superseded."""

    async def submit_change(self, body: Any, caller: Caller) -> dict[str, Any]:
        """Check a change request's body and evidence, evaluate its gates, and have the registry decide
        (pending, audited). InputError naming the field; Unavailable when it cannot be written or audited."""

    async def edit_change(self, change_id: str, body: Any, caller: Caller) -> dict[str, Any]:
        """The requester's PATCH: back to pending, earlier approvals void."""

    async def decide_change(
        self, change_id: str, action: str, caller: Caller, params_sha: str | None, reason: str | None
    ) -> dict[str, Any]:
        """approve | reject | withdraw, decided by the registry under the four-eyes rules."""

    def live_sessions(self) -> list[dict[str, Any]]:
        """Every live session's summary (running and ended), newest first."""

    async def live_session(self, session_id: str, points: int = 2000) -> dict[str, Any]:
        """``{session, candles, equity, trades, fills}`` of one session (InputError for a bad id, NotFound)."""

    async def start_live(self, body: Any, caller: Caller) -> dict[str, Any]:
        """Check a live start body (InputError naming the field), then have the live actor decide (guardrails,
        feed, evidence, audit ``live.start``): ``{"id", "status": "running", "startedAt"}``."""

    async def stop_live(self, session_id: str, caller: Caller) -> dict[str, Any]:
        """Stop a running session (audited ``live.stop`` before it is carried out): ``{"ok", "id", "status"}``."""

    def sweeps(self, status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Every sweep's summary (``{id, kind, status, done, total, best, ...}``), newest first, filtered."""

    async def sweep(self, sweep_id: str, points: int = 2000) -> dict[str, Any]:
        """``{sweep, doc, equity}`` of one sweep: its summary, its ``sweep.json``, and a done walk-forward's
        out-of-sample and in-sample equity (InputError for a bad id, NotFound)."""

    async def sweep_results(self, sweep_id: str, sort: str | None, limit: int, offset: int) -> dict[str, Any]:
        """One sorted page of a sweep's result rows (`spark.research.reads.results_page`)."""

    async def start_sweep(self, body: Any, caller: Caller) -> dict[str, Any]:
        """Check a sweep body (InputError naming the field, audited, nothing written), then have the sweeps actor
        decide, write and audit ``sweep.start``: ``{"id", "status": "queued", "startedAt"}``."""

    async def cancel_sweep(self, sweep_id: str, caller: Caller) -> dict[str, Any]:
        """Cancel a queued or running sweep (audited ``sweep.cancel`` first; it ends ``failed``, ``cancelled``,
        its executor stopped within a second): ``{"ok", "id", "status"}``; NotFound, Conflict (done)."""

    def subscribe(self, last_event_id: int | None) -> AbstractAsyncContextManager[Subscription]:
        """A stream for one SSE client, replaying after ``last_event_id`` from the ring when it can, else starting
        with a snapshot. Raises Unavailable (with retry_after) over the client cap."""
