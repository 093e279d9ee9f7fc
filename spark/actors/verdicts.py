"""How the scheduler's decisions reach the disk: verdicts written before anyone is answered (the run record first,
then the audit line), and the files that follow a decision (records rewritten, results removed).

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

from spark.actors.messages import AuditLine, Cancel, Delete, Reply, Start
from spark.errors import SparkError, Unavailable
from spark.plugin.services import Caller
from spark.service.evidence import remove_result_files, remove_run_files, run_record_path, write_run_record
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

    async def delete(self, message: Delete) -> Unavailable | None:
        """Audit an accepted delete (carried out only once this returns None)."""
        try:
            await self.write_audit(audit_entry("delete", message.caller, message.run_id, None))
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

    # --- files that follow a decision ----------------------------------------------------------------------------

    async def persist(self, run_id: str, version: int) -> None:
        """Write version ``version`` (or newer) of a run's record; a failure is logged (the next write catches up)."""
        try:
            await self.store.flush(run_id, version)
        except (OSError, ValueError) as exc:
            log.error("cannot write the record of run %s: %s", run_id, exc)

    async def flush_then_answer(self, run_id: str, version: int, reply: Reply[dict[str, Any]]) -> None:
        """A cancel carried out: its record written (or the failure logged: the cancel happened), then answered."""
        await self.persist(run_id, version)
        reply.set(cancelled_answer(run_id))

    async def remove_results(self, run_id: str) -> None:
        """A run that ended failed keeps no result files: take back whatever its worker wrote."""
        try:
            removed = await self.store.blocking(remove_result_files, self.store.evidence_dir, run_id)
        except OSError as exc:
            log.error("cannot remove the result files of run %s: %s", run_id, exc)
            return
        if removed:
            log.info("run %s did not end done: removed %s", run_id, ", ".join(removed))

    async def remove_run(self, run_id: str, reply: Reply[dict[str, Any]]) -> None:
        """A delete carried out: the record, then the result files; then answered."""
        try:
            await self.store.blocking(remove_run_files, self.store.evidence_dir, run_id)
        except OSError as exc:  # decided and audited: what is left goes at the next start-up (orphans)
            log.error("cannot remove every file of run %s: %s", run_id, exc)
        reply.set({"ok": True, "id": run_id, "deleted": True})


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
