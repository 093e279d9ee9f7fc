"""Change requests and parameter sets on disk: ``evidence/changes/<id>.json`` per request and
``evidence/changes/params.json`` for every set (active and superseded), each written atomically.

Every transition is journalled: before its files are written, ``<id>.intent.json`` keeps the bytes they held and
the transition's number; once its audit line is written the intent is removed. A crash (kill -9) between the two
leaves the intent behind, and `ChangeStore.load` settles it against the audit log: a transition whose audit line
was written stays (it was decided and audited, the files are complete: they were written before the line); one
without its line is taken back to the bytes kept, since nobody was told it happened. So after any crash the files
and the audit trail agree: every transition on disk has exactly one audit line.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from spark.service.changes import ChangeRequest, ParamSet
from spark.service.evidence import read_json, write_json_atomic

__all__ = ["CHANGE_ID", "ChangeStore"]

log = logging.getLogger(__name__)

CHANGE_ID = re.compile(r"^cr-[0-9]{13}-[0-9a-f]{8}$")
Snapshot = tuple[ChangeRequest | None, bytes | None, bytes | None]


class ChangeStore:
    def __init__(self, evidence_dir: Path) -> None:
        self.folder = Path(evidence_dir) / "changes"
        self.requests: dict[str, ChangeRequest] = {}
        self.sets: list[ParamSet] = []

    def active(self, key: tuple[str, str, str]) -> ParamSet | None:
        return next((s for s in self.sets if s.state == "active" and (s.strategy, s.pair, s.timeframe) == key), None)

    def names(self, run_id: str) -> bool:
        """Whether a request (in any state) names ``run_id`` as evidence: such a run may not be deleted."""
        return any(run_id in r.evidence.runs for r in self.requests.values())

    def listing(self, state: str | None = None) -> list[ChangeRequest]:
        found = [r for r in self.requests.values() if state is None or r.state == state]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    # --- writing (blocking: the registry calls these in a worker thread) ----------------------------------------

    def _path(self, change_id: str) -> Path:
        if not CHANGE_ID.match(change_id):
            raise ValueError(f"not a change request id: {change_id!r}")
        return self.folder / f"{change_id}.json"

    def snapshot(self, change_id: str) -> Snapshot:
        """What the files hold now (to take a transition back)."""

        def raw(path: Path) -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return self.requests.get(change_id), raw(self._path(change_id)), raw(self.folder / "params.json")

    def _intent(self, change_id: str) -> Path:
        return self._path(change_id).with_suffix(".intent.json")

    def write(self, request: ChangeRequest, sets: list[ParamSet] | None, previous: Snapshot | None = None) -> None:
        """The transition's files, after its intent (the bytes they held, to take it back after a crash)."""
        if previous is not None:
            _, request_bytes, params_bytes = previous
            intent = {
                "id": request.id,
                "action": request.history[-1].action if request.history else None,
                "transition": len(request.history),
                "request": _b64(request_bytes),
                "params": _b64(params_bytes),
            }
            write_json_atomic(self._intent(request.id), intent)
        if sets is not None:
            write_json_atomic(self.folder / "params.json", {"sets": [s.to_wire() for s in sets]}, indent=2)
        write_json_atomic(self._path(request.id), request.to_wire(), indent=2)

    def settle(self, change_id: str) -> None:
        """The transition is audited: its intent is no longer needed."""
        with contextlib.suppress(FileNotFoundError):
            self._intent(change_id).unlink()

    def restore(self, change_id: str, previous: Snapshot) -> None:
        from spark.service.evidence import write_bytes_atomic

        _, request_bytes, params_bytes = previous
        for path, data in ((self._path(change_id), request_bytes), (self.folder / "params.json", params_bytes)):
            if data is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                write_bytes_atomic(path, data)
        self.settle(change_id)

    def apply(self, request: ChangeRequest, sets: list[ParamSet] | None) -> None:
        """The transition is on disk and audited: memory follows."""
        self.requests[request.id] = request
        if sets is not None:
            self.sets = list(sets)

    # --- start-up ----------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, evidence_dir: Path, audit_dir: Path | None = None) -> ChangeStore:
        """Read every request and the sets (blocking), after settling the intents a crash left against the audit
        log in ``audit_dir``. Unreadable files are skipped and logged; a set naming a request still pending completes
        that request (an activation cut off between its two files, from before intents were kept)."""
        store = cls(evidence_dir)
        if not store.folder.is_dir():
            return store
        store._settle_intents(audit_dir)
        params = read_json(store.folder / "params.json")
        if isinstance(params, dict):
            for doc in params.get("sets") or []:
                try:
                    store.sets.append(ParamSet.from_wire(doc))
                except (TypeError, ValueError) as exc:
                    log.warning("skipping a parameter set in %s: %s", store.folder / "params.json", exc)
        for path in sorted(store.folder.glob("cr-*.json")):
            doc = read_json(path)
            try:
                request = ChangeRequest.from_wire(doc if isinstance(doc, dict) else {})
            except ValueError as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            store.requests[request.id] = request
        for s in store.sets:
            request = store.requests.get(s.change_id)
            if request is not None and request.state == "pending":
                completed = request.replace(state="active", activated_version=s.version)
                log.warning("change request %s: activation completed at start-up (cut off before)", request.id)
                write_json_atomic(store._path(request.id), completed.to_wire(), indent=2)
                store.requests[request.id] = completed
        return store

    def _settle_intents(self, audit_dir: Path | None) -> None:
        intents = sorted(self.folder.glob("cr-*.intent.json"))
        if not intents:
            return
        audited = _audited_transitions(audit_dir)
        for path in intents:
            doc = read_json(path)
            change_id = path.name.removesuffix(".intent.json")
            if not isinstance(doc, dict) or doc.get("id") != change_id:
                log.error("change request %s: unreadable intent %s left as it is", change_id, path)
                continue
            if (change_id, doc.get("action"), doc.get("transition")) in audited:
                log.warning("change request %s: %s was audited before a crash; kept", change_id, doc.get("action"))
                self.settle(change_id)
                continue
            log.warning("change request %s: %s was cut off before its audit line; taken back", change_id, doc["action"])
            self.restore(change_id, (None, _unb64(doc.get("request")), _unb64(doc.get("params"))))


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes | None:
    return base64.b64decode(text) if isinstance(text, str) else None


def _audited_transitions(audit_dir: Path | None) -> set[tuple[str, str, int]]:
    """(id, action, transition number) of every change transition audited as a success."""
    found: set[tuple[str, str, int]] = set()
    if audit_dir is None or not Path(audit_dir).is_dir():
        return found
    for path in sorted(Path(audit_dir).glob("backtest_*.log")):
        with path.open("rb") as lines:
            for raw in lines:
                if b'"change.' not in raw:
                    continue
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                action, detail = str(entry.get("action", "")), entry.get("detail")
                if entry.get("success") is True and action.startswith("change.") and isinstance(detail, dict):
                    found.add((str(entry.get("id")), action.removeprefix("change."), detail.get("transition")))
    return found


def change_doc(request: ChangeRequest, store: ChangeStore) -> dict[str, Any]:
    """A request as the API shows it, with the set it would replace (its params for the side-by-side diff)."""
    base = store.active(request.key)
    return {**request.to_wire(), "active": None if base is None else base.to_wire()}
