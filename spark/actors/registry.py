"""The registry: the one decider of change requests and the keeper of active parameter sets (issue 12).

One loop over one inbox (submit, edit, approve, reject, withdraw, and its own expiry timer), so no two decisions
interleave. Each transition is decided, written (``evidence/changes/<id>.json``, and ``params.json`` when the active
sets move, atomically), audited (``change.<action>``, with from/to state, the params hash, the gate verdicts and the
reason), and only then answered and published (SSE ``event: change``). An audit that cannot be written takes the
files back: nothing happened, the answer is 503.

The rules, as DESIGN.md and the issue set them: the requester never approves their own request; an approval binds
to the params and evidence hashes the approver saw (a stale one is a Conflict); an edit by the requester returns the
request to pending with its approvals void; a failing gate blocks approval unless two different approvers, neither
the requester, each approve with an override reason; the approval that completes the required ones activates the
set at once and the set it replaces becomes superseded; a pending request expires after ``change_ttl_days``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from spark.actors.messages import AuditLine, ChangeChanged, Reply
from spark.config import Settings
from spark.errors import Conflict, Forbidden, NotFound, SparkError, Unavailable
from spark.ids import wall_ms
from spark.metrics import Metrics
from spark.plugin.services import Caller
from spark.service.changes import Approval, ChangeRequest, ParamSet, Transition, diff_params
from spark.service.changestore import ChangeStore

__all__ = ["ChangeDecision", "ChangeDraft", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeDraft:
    """A submitted or edited request, validated and with its gates evaluated (`spark.system`)."""

    request: ChangeRequest  # state, diff and approvals are decided by the registry
    payload: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeDecision:
    """What the registry is asked: ``action`` submit | edit | approve | reject | withdraw."""

    action: str
    caller: Caller
    reply: Reply[dict[str, Any]]
    change_id: str | None = None
    draft: ChangeDraft | None = None
    params_sha: str | None = None  # approve: the params hash the approver reviewed
    reason: str | None = None


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    audit: trio.MemorySendChannel,
    publish: trio.MemorySendChannel,
    store: ChangeStore,
    settings: Callable[[], Settings],
    metrics: Metrics | None = None,
    now_ms: Callable[[], int] = wall_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` (ChangeDecision) until it closes, expiring pending requests on time."""
    registry = _Registry(store=store, audit=audit, publish=publish, settings=settings, now_ms=now_ms, metrics=metrics)
    async with inbox, audit, publish:
        task_status.started()
        registry.count()
        while True:
            message = None
            with trio.move_on_at(registry.next_expiry()):
                try:
                    message = await inbox.receive()
                except trio.EndOfChannel:
                    return
            if message is None:
                await registry.expire()
                continue
            await registry.handle(message)


class _Registry:
    def __init__(
        self,
        *,
        store: ChangeStore,
        audit: trio.MemorySendChannel,
        publish: trio.MemorySendChannel,
        settings: Callable[[], Settings],
        now_ms: Callable[[], int],
        metrics: Metrics | None,
    ) -> None:
        self.store, self.audit, self.publish = store, audit, publish
        self.settings, self.now_ms, self.metrics = settings, now_ms, metrics

    def count(self, verdict: str | None = None, overrides: int = 0) -> None:
        if self.metrics is None:
            return
        self.metrics.count_changes(self.store)
        if verdict is not None:
            self.metrics.change_decisions.labels(verdict=verdict).inc()
        if overrides:
            self.metrics.guardrail_overrides.inc(overrides)

    def next_expiry(self) -> float:
        """The trio time of the next pending request's expiry (inf when none)."""
        pending = [r.expires_at for r in self.store.requests.values() if r.state == "pending"]
        if not pending:
            return float("inf")
        return trio.current_time() + max(0.0, (min(pending) - self.now_ms()) / 1000)

    async def handle(self, message: ChangeDecision) -> None:
        try:
            request, sets, answer = self.decide(message)
        except SparkError as exc:
            await self.refuse(message, exc)
            return
        await self.commit(message.action, message.caller, request, sets, message.reason, message, answer)

    def decide(self, m: ChangeDecision) -> tuple[ChangeRequest, list[ParamSet] | None, dict[str, Any]]:
        """The transition ``m`` asks for, or the SparkError that refuses it (nothing written)."""
        now, user = self.now_ms(), m.caller.user
        if m.action == "submit":
            assert m.draft is not None
            draft = m.draft.request
            base = self.store.active(draft.key)
            request = draft.replace(
                state="pending",
                created_at=now,
                updated_at=now,
                requester=user,
                expires_at=now + int(self.settings().change_ttl_days * 86_400_000),
                base_version=None if base is None else base.version,
                diff=tuple(diff_params(None if base is None else base.params, draft.params)),
                history=(Transition(action="submit", user=user, at=now, from_state=None, to_state="pending"),),
            )
            return request, None, request.to_wire()
        current = self.store.requests.get(m.change_id or "")
        if current is None:
            raise NotFound(f"no change request {m.change_id}", field="id")
        if m.action == "edit":
            return self._edit(current, m, now)
        if current.state != "pending":
            raise Conflict(
                f"change request {current.id} is {current.state}: only pending requests can be "
                f"{m.action}{'d' if m.action.endswith('e') else 'ed'}",
                field="id",
            )
        if m.action == "withdraw":
            if user != current.requester and m.caller.role != "admin":
                raise Forbidden(f"only the requester ({current.requester}) or an admin may withdraw {current.id}")
            return self._move(current, "withdraw", user, now, "withdrawn", m.reason), None, {}
        if m.action == "reject":
            return self._move(current, "reject", user, now, "rejected", m.reason), None, {}
        return self._approve(current, m, now)

    def _edit(self, current: ChangeRequest, m: ChangeDecision, now: int) -> tuple[ChangeRequest, None, dict]:
        if current.state != "pending":
            raise Conflict(f"change request {current.id} is {current.state}: only pending requests can be edited")
        if m.caller.user != current.requester:
            raise Forbidden(f"only the requester ({current.requester}) may edit {current.id}")
        assert m.draft is not None
        draft = m.draft.request
        base = self.store.active(current.key)
        request = current.replace(
            params=draft.params,
            params_sha=draft.params_sha,
            rationale=draft.rationale,
            evidence=draft.evidence,
            evidence_sha=draft.evidence_sha,
            gates=draft.gates,
            approvals=(),
            updated_at=now,
            diff=tuple(diff_params(None if base is None else base.params, draft.params)),
            base_version=None if base is None else base.version,
            history=(
                *current.history,
                Transition(
                    action="edit",
                    user=m.caller.user,
                    at=now,
                    from_state="pending",
                    to_state="pending",
                    reason="approvals void",
                ),
            ),
        )
        return request, None, {}

    def _move(
        self, current: ChangeRequest, action: str, user: str, now: int, to: str, reason: str | None
    ) -> ChangeRequest:
        return current.replace(
            state=to,
            updated_at=now,
            history=(
                *current.history,
                Transition(action=action, user=user, at=now, from_state=current.state, to_state=to, reason=reason),
            ),
        )

    def _approve(
        self, current: ChangeRequest, m: ChangeDecision, now: int
    ) -> tuple[ChangeRequest, list[ParamSet] | None, dict]:
        user = m.caller.user
        if user == current.requester:
            raise Forbidden(f"{user} requested {current.id}: a requester may not approve their own request")
        if m.params_sha != current.params_sha:
            raise Conflict(
                f"change request {current.id} changed since you reviewed it (params {current.params_sha[:12]}, "
                f"you saw {(m.params_sha or 'nothing')[:12]}): review it again",
                field="paramsSha",
            )
        if any(a.user == user for a in current.approvals):
            raise Conflict(f"{user} has approved {current.id} already", field="id")
        failing = current.failing
        if failing and not (m.reason or "").strip():
            raise Conflict(
                f"gates failing ({', '.join(failing)}): an approval needs an override reason "
                "(and a second approver, neither the requester, with one)",
                field="reason",
            )
        approval = Approval(
            user=user,
            at=now,
            params_sha=current.params_sha,
            evidence_sha=current.evidence_sha,
            override=(m.reason or None) if failing else None,
        )
        approvals = (*current.approvals, approval)
        needed = max(self.settings().approvals_required, 2 if failing else 1)
        if len(approvals) < needed:
            request = current.replace(
                approvals=approvals,
                updated_at=now,
                history=(
                    *current.history,
                    Transition(
                        action="approve", user=user, at=now, from_state="pending", to_state="pending", reason=m.reason
                    ),
                ),
            )
            return request, None, {}
        old = self.store.active(current.key)
        version = 1 + max(
            (s.version for s in self.store.sets if (s.strategy, s.pair, s.timeframe) == current.key), default=0
        )
        new_set = ParamSet(
            strategy=current.strategy,
            pair=current.pair,
            timeframe=current.timeframe,
            version=version,
            params=current.params,
            params_sha=current.params_sha,
            change_id=current.id,
            activated_at=now,
        )
        sets = [dataclasses.replace(s, state="superseded") if s is old else s for s in self.store.sets]
        sets.append(new_set)
        request = current.replace(
            approvals=approvals,
            state="active",
            updated_at=now,
            activated_version=version,
            history=(
                *current.history,
                Transition(
                    action="approve", user=user, at=now, from_state="pending", to_state="active", reason=m.reason
                ),
            ),
        )
        return request, sets, {}

    async def expire(self) -> None:
        now = self.now_ms()
        for request in [r for r in self.store.requests.values() if r.state == "pending" and r.expires_at <= now]:
            system = Caller(ip="local", user="system", role="admin")
            expired = self._move(request, "expire", "system", now, "expired", "pending longer than change_ttl_days")
            await self.commit("expire", system, expired, None, expired.history[-1].reason, None, {})

    async def commit(
        self,
        action: str,
        caller: Caller,
        request: ChangeRequest,
        sets: list[ParamSet] | None,
        reason: str | None,
        message: ChangeDecision | None,
        answer: dict[str, Any],
    ) -> None:
        """Write, audit, then answer and publish; an audit that fails takes the files back."""
        previous = self.store.snapshot(request.id)
        try:
            await trio.to_thread.run_sync(self.store.write, request, sets, previous)
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError, ValueError):
                await trio.to_thread.run_sync(self.store.restore, request.id, previous)
            error = Unavailable(f"cannot write the change request ({exc}); nothing changed", retry_after=30)
            await self.refuse(message, error) if message is not None else log.error("%s", error.message)
            return
        before = previous[0].state if previous[0] is not None else None
        entry = _entry(
            f"change.{action}",
            caller,
            request,
            message,
            success=True,
            detail={
                "from": before,
                "to": request.state,
                "paramsSha": request.params_sha,
                "reason": reason,
                "transition": len(request.history),
                "gates": {g.name: g.verdict for g in request.gates},
                **({"activatedVersion": request.activated_version} if request.state == "active" else {}),
            },
        )
        try:
            await self.write_audit(entry)
        except Unavailable as exc:
            await trio.to_thread.run_sync(self.store.restore, request.id, previous)
            if message is not None:
                message.reply.fail(exc)
            return
        await trio.to_thread.run_sync(self.store.settle, request.id)
        overrides = int(action == "approve" and bool(request.approvals) and request.approvals[-1].override is not None)
        self.store.apply(request, sets)
        self.count(action, overrides)
        await self.publish.send(ChangeChanged(request=request.to_wire()))
        if message is not None:
            message.reply.set(answer or request.to_wire())

    async def refuse(self, message: ChangeDecision | None, error: SparkError) -> None:
        if message is None:
            return
        entry = _entry(
            f"change.{message.action}",
            message.caller,
            None,
            message,
            success=False,
            error=f"{error.code}: {error.message}",
        )
        try:
            await self.write_audit(entry)
        except Unavailable as exc:
            message.reply.fail(exc)
            return
        self.count("refused")
        message.reply.fail(error)

    async def write_audit(self, entry: dict[str, Any]) -> None:
        reply: Reply[None] = Reply()
        try:
            await self.audit.send(AuditLine(entry=entry, reply=reply))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise Unavailable("the audit log is closed: the service is shutting down", retry_after=5) from None
        await reply.wait()


def _entry(
    action: str,
    caller: Caller,
    request: ChangeRequest | None,
    message: ChangeDecision | None,
    *,
    success: bool,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload = message.draft.payload if message is not None and message.draft is not None else None
    if payload is None and message is not None and message.reason:
        payload = {"reason": message.reason}
    entry: dict[str, Any] = {
        "action": action,
        "ip": caller.ip,
        "user": caller.user,
        "id": request.id if request is not None else (message.change_id if message else None),
        "payload": payload,
        "success": success,
    }
    if error is not None:
        entry["error"] = error
    if detail is not None:
        entry["detail"] = detail
    return entry
