"""Change requests and parameter sets on disk: ``evidence/changes/<id>.json`` per request and
``evidence/changes/params.json`` for every set (active and superseded), each written atomically.

An activation writes ``params.json`` first, then the request: a crash between them leaves a set naming a request
still pending, which `ChangeStore.load` completes (the approval that activated it was decided and audited). Writes
keep the previous bytes so the registry can take a transition back when its audit line cannot be written.
"""

from __future__ import annotations

import contextlib
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

    def write(self, request: ChangeRequest, sets: list[ParamSet] | None) -> None:
        if sets is not None:
            write_json_atomic(self.folder / "params.json", {"sets": [s.to_wire() for s in sets]}, indent=2)
        write_json_atomic(self._path(request.id), request.to_wire(), indent=2)

    def restore(self, change_id: str, previous: Snapshot) -> None:
        from spark.service.evidence import write_bytes_atomic

        _, request_bytes, params_bytes = previous
        for path, data in ((self._path(change_id), request_bytes), (self.folder / "params.json", params_bytes)):
            if data is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                write_bytes_atomic(path, data)

    def apply(self, request: ChangeRequest, sets: list[ParamSet] | None) -> None:
        """The transition is on disk and audited: memory follows."""
        self.requests[request.id] = request
        if sets is not None:
            self.sets = list(sets)

    # --- start-up ----------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, evidence_dir: Path) -> ChangeStore:
        """Read every request and the sets (blocking). Unreadable files are skipped and logged; a set naming a
        request still pending completes that request (an activation cut off between its two files)."""
        store = cls(evidence_dir)
        if not store.folder.is_dir():
            return store
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


def change_doc(request: ChangeRequest, store: ChangeStore) -> dict[str, Any]:
    """A request as the API shows it, with the set it would replace (its params for the side-by-side diff)."""
    base = store.active(request.key)
    return {**request.to_wire(), "active": None if base is None else base.to_wire()}
