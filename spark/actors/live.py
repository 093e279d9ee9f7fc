"""The live actor: the one decider of live sessions (paper trading, issue 11), and the nursery they run in.

One loop over one inbox (start, stop), so no two decisions interleave. A start is decided (the session cap, the
guardrails: params must be the ACTIVE parameter set for the strategy, pair and timeframe unless an admin gives an
override ``reason``, audited as an override and counted in ``spark_guardrail_overrides_total``), its feed opened
(an unknown pair is a 400 here, nothing written), written (``evidence/live/<id>/``), audited (``live.start``), and
only then answered and started. An audit that cannot be written takes the folder back: nothing happened, the answer
is 503. A stop is audited (``live.stop``) before it is carried out: the session's task is cancelled, then it is
recorded ``stopped``. Every change of a session goes to the broadcaster (SSE ``event: live``).

At start-up every session recorded ``running`` resumes (`spark.market.session.LiveSession`: its recorded candles
re-run, then a catch-up from history); one whose feed cannot be reopened is recorded ``failed`` with the reason.
When the inbox closes (shutdown) the sessions are cancelled and stay ``running`` on disk, so they resume next time.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from spark.actors.messages import AuditLine, LiveChanged, Reply
from spark.config import Settings
from spark.engine.options import Options
from spark.errors import Forbidden, NotFound, SparkError, Unavailable
from spark.ids import new_session_id, wall_ms
from spark.market import session_store as files
from spark.market.session import LiveSession, options_of, public
from spark.market.sources import OpenedSource, open_source
from spark.metrics import Metrics
from spark.plugin.manager import Plugins
from spark.plugin.services import Caller
from spark.service.changes import ParamSet, canonical_hash

__all__ = ["LiveBoard", "LiveDraft", "StartLive", "StopLive", "run"]

log = logging.getLogger(__name__)

THREADS = 2  # engine steps of all sessions at once (worker threads): two cores


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveDraft:
    """A start body, validated (`spark.actors.live_desk.parse_live_body`)."""

    exchange: str
    pair: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    options: Options
    options_wire: dict[str, Any]
    warmup_bars: int
    reason: str | None  # an admin's override of the guardrails
    payload: Any  # the body as sent, for the audit


@dataclass(frozen=True, slots=True, kw_only=True)
class StartLive:
    draft: LiveDraft
    caller: Caller
    reply: Reply[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class StopLive:
    session_id: str
    caller: Caller
    reply: Reply[dict[str, Any]]


@dataclass(slots=True)
class LiveBoard:
    """The sessions the actor knows (written by the actor only; the API reads it): running or ended this process
    (``live``), and the documents of sessions that ended before it (``ended``)."""

    live: dict[str, LiveSession] = field(default_factory=dict)
    ended: dict[str, dict[str, Any]] = field(default_factory=dict)

    def running(self) -> int:
        return sum(1 for s in self.live.values() if s.doc["status"] == "running" and not s.ended.is_set())

    def summaries(self) -> list[dict[str, Any]]:
        docs = [s.summary() for s in self.live.values()]
        docs += [public(d) for i, d in self.ended.items() if i not in self.live]
        return sorted(docs, key=lambda d: d["id"], reverse=True)

    def summary(self, session_id: str) -> dict[str, Any] | None:
        if session_id in self.live:
            return self.live[session_id].summary()
        doc = self.ended.get(session_id)
        return None if doc is None else public(doc)


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    audit: trio.MemorySendChannel,
    publish: trio.MemorySendChannel,
    board: LiveBoard,
    settings: Callable[[], Settings],
    plugins: Callable[[], Plugins],
    active_set: Callable[[tuple[str, str, str]], ParamSet | None],
    metrics: Metrics | None = None,
    now_ms: Callable[[], int] = wall_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` (StartLive, StopLive) until it closes; resume the sessions recorded running first."""
    async with inbox, audit, publish, trio.open_nursery() as nursery:
        actor = _Live(board, audit, publish, settings, plugins, active_set, metrics, now_ms, nursery)
        for doc in await trio.to_thread.run_sync(files.list_sessions, settings().evidence_dir):
            board.ended[doc["id"]] = doc
            if doc.get("status") == "running":
                nursery.start_soon(actor.resume, doc)
        actor.count()
        task_status.started()
        async for message in inbox:
            if isinstance(message, StartLive):
                await actor.start(message)
            elif isinstance(message, StopLive):
                await actor.stop(message)
        nursery.cancel_scope.cancel()  # shutdown: sessions stay running on disk and resume next time


class _Live:
    def __init__(self, board, audit, publish, settings, plugins, active_set, metrics, now_ms, nursery) -> None:
        self.board, self.audit, self.publish_to = board, audit, publish
        self.settings, self.plugins, self.active_set = settings, plugins, active_set
        self.metrics, self.now_ms, self.nursery = metrics, now_ms, nursery
        self.limiter = trio.CapacityLimiter(THREADS)
        self.scopes: dict[str, trio.CancelScope] = {}

    def count(self) -> None:
        if self.metrics is not None:
            self.metrics.live_sessions.set(self.board.running())

    async def publish(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await self.publish_to.send(LiveChanged(event=event))

    # --- start ----------------------------------------------------------------------------------------------

    async def start(self, m: StartLive) -> None:
        d, settings = m.draft, self.settings()
        try:
            if self.board.running() >= settings.live_max_sessions:
                raise Unavailable(
                    f"{settings.live_max_sessions} live sessions are running (live_max_sessions)", retry_after=30
                )
            spec = self.plugins().strategy(d.strategy)
            approved = self.guardrails(d)
            opened = await open_source(settings, d.exchange, d.pair, d.timeframe, metrics=self.metrics)
        except SparkError as exc:
            await self.refuse(m, exc)
            return
        started = self.now_ms()
        session_id = new_session_id(started)
        doc = {
            "id": session_id,
            "status": "running",
            "exchange": d.exchange,
            "pair": d.pair,
            "timeframe": d.timeframe,
            "strategy": spec.name,
            "params": d.params,
            "paramsSha": canonical_hash(d.params),
            "options": d.options_wire,
            "warmupBars": d.warmup_bars,
            "paramSet": None if approved is None else {"version": approved.version, "changeId": approved.change_id},
            "override": None if approved is not None else {"reason": d.reason, "user": m.caller.user},
            "startedAt": started,
            "stoppedAt": None,
            "error": None,
            "startedBy": m.caller.user,
            "feed": None,
            "source": opened.state,
        }
        try:
            await trio.to_thread.run_sync(files.create_session, settings.evidence_dir, doc)
        except (OSError, ValueError) as exc:
            await self.refuse(
                m, Unavailable(f"cannot write the session's evidence ({exc}); nothing started", retry_after=30)
            )
            return
        detail = {"override": doc["override"], "paramSet": doc["paramSet"], "paramsSha": doc["paramsSha"]}
        try:
            await self.write_audit(self.entry("live.start", m.caller, session_id, d.payload, True, detail=detail))
        except Unavailable as exc:
            folder = files.session_dir(settings.evidence_dir, session_id)
            await trio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
            m.reply.fail(exc)
            return
        if approved is None and self.metrics is not None:
            self.metrics.guardrail_overrides.inc()
        self.launch(doc, opened, resume=False)
        m.reply.set({"id": session_id, "status": "running", "startedAt": started})

    def guardrails(self, d: LiveDraft) -> ParamSet | None:
        """The active set the params are (None: an override with a reason); Forbidden without either."""
        active = self.active_set((d.strategy, d.pair, d.timeframe))
        if active is not None and active.params_sha == canonical_hash(d.params):
            return active
        if d.reason:
            return None
        where = f"{d.strategy} {d.pair} {d.timeframe}"
        have = "no active parameter set" if active is None else f"the active set is version {active.version}"
        raise Forbidden(
            f"live sessions start only from the active parameter set for {where} ({have}, and these params are not "
            "it); an admin may override with a reason",
            field="params",
        )

    def launch(self, doc: dict[str, Any], opened: OpenedSource, *, resume: bool) -> None:
        settings = self.settings()
        session = LiveSession(
            doc,
            spec=self.plugins().strategy(doc["strategy"]),
            options=options_of(doc["options"]),
            opened=opened,
            evidence_dir=settings.evidence_dir,
            publish=self.publish,
            max_bars=settings.live_max_bars,
            limiter=self.limiter,
            now_ms=self.now_ms,
            metrics=self.metrics,
        )
        self.board.live[doc["id"]] = session
        scope = trio.CancelScope()
        self.scopes[doc["id"]] = scope
        self.nursery.start_soon(self.follow, session, scope, resume)
        self.count()

    async def follow(self, session: LiveSession, scope: trio.CancelScope, resume: bool) -> None:
        with scope:
            await session.run(resume=resume)
        self.scopes.pop(session.id, None)
        self.count()

    async def resume(self, doc: dict[str, Any]) -> None:
        settings = self.settings()
        try:
            opened = await open_source(
                settings,
                doc["exchange"],
                doc["pair"],
                doc["timeframe"],
                state=doc.get("source") or None,
                metrics=self.metrics,
            )
            self.plugins().strategy(doc["strategy"])
        except (SparkError, KeyError, ValueError, OSError) as exc:
            reason = exc.message if isinstance(exc, SparkError) else f"{type(exc).__name__}: {exc}"
            log.error("live session %s cannot resume: %s", doc.get("id"), reason)
            failed = {**doc, "status": "failed", "stoppedAt": self.now_ms(), "error": f"cannot resume: {reason}"}
            with contextlib.suppress(OSError, ValueError):
                await trio.to_thread.run_sync(files.write_doc, settings.evidence_dir, failed)
            self.board.ended[doc["id"]] = failed
            return
        log.info("live session %s resumes", doc["id"])
        self.launch(doc, opened, resume=True)

    # --- stop -----------------------------------------------------------------------------------------------

    async def stop(self, m: StopLive) -> None:
        session = self.board.live.get(m.session_id)
        if session is None and m.session_id not in self.board.ended:
            await self.refuse(m, NotFound(f"no live session {m.session_id}", field="id"))
            return
        running = session is not None and session.doc["status"] == "running"
        if not running:
            status = session.doc["status"] if session is not None else self.board.ended[m.session_id]["status"]
            m.reply.set({"ok": True, "id": m.session_id, "status": status})  # already ended: no change
            return
        assert session is not None
        try:
            await self.write_audit(self.entry("live.stop", m.caller, m.session_id, {"id": m.session_id}, True))
        except Unavailable as exc:
            m.reply.fail(exc)
            return
        scope = self.scopes.get(m.session_id)
        if scope is not None:
            scope.cancel()
        await session.ended.wait()
        if session.doc["status"] == "running":
            await session.finish("stopped", f"stopped by {m.caller.user}")
        self.count()
        m.reply.set({"ok": True, "id": m.session_id, "status": session.doc["status"]})

    # --- audit ----------------------------------------------------------------------------------------------

    def entry(
        self, action: str, caller: Caller, target: str | None, payload: Any, success: bool, **extra: Any
    ) -> dict[str, Any]:
        line = {"action": action, "ip": caller.ip, "user": caller.user, "id": target, "payload": payload}
        return {**line, "success": success, **{k: v for k, v in extra.items() if v is not None}}

    async def refuse(self, m: StartLive | StopLive, error: SparkError) -> None:
        action, payload, target = (
            ("live.start", m.draft.payload, None) if isinstance(m, StartLive) else ("live.stop", None, m.session_id)
        )
        try:
            await self.write_audit(
                self.entry(action, m.caller, target, payload, False, error=f"{error.code}: {error.message}")
            )
        except Unavailable as exc:
            m.reply.fail(exc)
            return
        m.reply.fail(error)

    async def write_audit(self, entry: dict[str, Any]) -> None:
        reply: Reply[None] = Reply()
        try:
            await self.audit.send(AuditLine(entry=entry, reply=reply))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise Unavailable("the audit log is closed: the service is shutting down", retry_after=5) from None
        await reply.wait()
