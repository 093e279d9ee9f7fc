"""How the scheduler's verdicts are written before anyone is answered: the run record first, then the audit line.

The scheduler decides (`spark.actors.scheduler`); these coroutines do the writing in its nursery, off its loop, and
say what came of it: None when the verdict is on disk and audited, else the error the client is to be answered with.
A start whose record cannot be written becomes a refusal (audited as one); a start whose audit line cannot be
written did not happen (its record is taken back); a refusal is audited, then answered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio

from spark.actors.messages import AuditLine, Cancel, Reply, Start
from spark.errors import SparkError, Unavailable
from spark.plugin.services import Caller
from spark.service.evidence import run_record_path, write_run_record
from spark.service.record import RunRecord
from spark.service.store import RunStore

__all__ = ["EVIDENCE_RETRY_S", "Verdicts", "audit_entry", "cancelled_answer"]

log = logging.getLogger(__name__)

EVIDENCE_RETRY_S = 30  # Retry-After when a run record cannot be written
AUDIT_CLOSED_RETRY_S = 5


def audit_entry(
    action: str,
    caller: Caller,
    run_id: str | None,
    payload: Any,
    error: SparkError | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit entry (the auditor adds the timestamp): success unless ``error``."""
    entry: dict[str, Any] = {
        "action": action,
        "ip": caller.ip,
        "user": caller.user,
        "id": run_id,
        "payload": payload,
        "success": error is None,
    }
    if error is not None:
        entry["error"] = f"{error.code}: {error.message}"
    if detail is not None:
        entry["detail"] = detail
    return entry


def cancelled_answer(run_id: str) -> dict[str, Any]:
    return {"ok": True, "id": run_id, "status": "failed"}


class Verdicts:
    """Writes verdicts to ``store``'s evidence folder and to the auditor's ``audit`` channel."""

    def __init__(self, store: RunStore, audit: trio.MemorySendChannel) -> None:
        self.store, self.audit = store, audit

    async def write_audit(self, entry: dict[str, Any]) -> None:
        """One audit line, durable when this returns; Unavailable when it cannot be written."""
        reply: Reply[None] = Reply()
        try:
            await self.audit.send(AuditLine(entry=entry, reply=reply))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise Unavailable(
                "the audit log is closed: the service is shutting down", retry_after=AUDIT_CLOSED_RETRY_S
            ) from None
        await reply.wait()

    async def start(self, record: RunRecord, message: Start) -> SparkError | None:
        """Write an accepted start's record, then audit it."""
        error: SparkError | None = None
        entry = audit_entry("start", message.caller, record.id, message.payload)
        try:
            await self.store.blocking(write_run_record, self.store.evidence_dir, record.to_wire())
        except (OSError, ValueError, TypeError) as exc:  # a full disk, a value the file cannot hold
            log.error("cannot write the record of run %s: %s", record.id, exc)
            error = Unavailable(
                f"cannot write evidence ({_reason(exc)}); nothing was started", retry_after=EVIDENCE_RETRY_S
            )
            entry = audit_entry("start", message.caller, None, message.payload, error)
            await self.store.blocking(_forget_record, self.store.evidence_dir, record.id)
        try:
            await self.write_audit(entry)
        except Unavailable as exc:
            if error is None:
                await self.store.blocking(_forget_record, self.store.evidence_dir, record.id)
            error = exc
        return error

    async def cancel(self, message: Cancel) -> Unavailable | None:
        """Audit an accepted cancel (it is carried out only once this returns None)."""
        try:
            await self.write_audit(audit_entry("cancel", message.caller, message.run_id, None))
        except Unavailable as exc:
            return exc
        return None

    async def unchanged(self, message: Cancel) -> None:
        """A cancel of a run already failed: nothing changes; audited, then answered."""
        try:
            await self.write_audit(
                audit_entry("cancel", message.caller, message.run_id, None, detail={"changed": False})
            )
        except Unavailable as exc:
            message.reply.fail(exc)
            return
        message.reply.set(cancelled_answer(message.run_id))

    async def refuse(
        self,
        action: str,
        caller: Caller,
        run_id: str | None,
        payload: Any,
        reply: Reply[dict[str, Any]],
        error: SparkError,
    ) -> None:
        """Audit a refusal, then answer it (with the audit's own error if the line cannot be written)."""
        try:
            await self.write_audit(audit_entry(action, caller, run_id, payload, error))
        except Unavailable as exc:
            reply.fail(exc)
            return
        reply.fail(error)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


def _forget_record(evidence_dir: Path, run_id: str) -> None:
    """Take back the record of a start that did not happen."""
    try:
        run_record_path(evidence_dir, run_id).unlink(missing_ok=True)
    except OSError as exc:
        log.error("cannot remove the record of run %s, which did not start: %s", run_id, exc)
