"""The change store's crash states, pinned exactly: a transition whose files were written but whose audit line was
not is taken back at start-up; one whose audit line was written is kept; either way no intent is left behind."""

from __future__ import annotations

import json
from pathlib import Path

from spark.service.changes import ChangeRequest, Evidence, ParamSet, Transition
from spark.service.changestore import ChangeStore

CID = "cr-1700000000000-0000000a"


def pending() -> ChangeRequest:
    submit = Transition(action="submit", user="olga", at=1, from_state=None, to_state="pending")
    return ChangeRequest(
        id=CID,
        strategy="sma_cross",
        pair="GOOG",
        timeframe="1d",
        params={"fast": 10, "slow": 30},
        params_sha="a" * 64,
        rationale="r",
        evidence=Evidence(runs=("bt-1700000000000-0000000a",)),
        evidence_sha="b" * 64,
        requester="olga",
        state="pending",
        created_at=1,
        updated_at=1,
        expires_at=10**13,
        history=(submit,),
    )


def activate(request: ChangeRequest) -> tuple[ChangeRequest, list[ParamSet]]:
    step = Transition(action="approve", user="bob", at=2, from_state="pending", to_state="active")
    active = request.replace(state="active", activated_version=1, history=(*request.history, step))
    params_set = ParamSet(
        strategy="sma_cross",
        pair="GOOG",
        timeframe="1d",
        version=1,
        params=dict(request.params),
        params_sha=request.params_sha,
        change_id=CID,
        state="active",
        activated_at=2,
    )
    return active, [params_set]


def crash_after_files(evidence: Path) -> None:
    """The submit is on disk and audited; the approval's two files are written, then the process dies."""
    store = ChangeStore(evidence)
    first = pending()
    store.write(first, None, store.snapshot(CID))
    store.settle(CID)
    store.apply(first, None)
    active, sets = activate(first)
    store.write(active, sets, store.snapshot(CID))


def audit(folder: Path, transition: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    line = {"action": "change.approve", "id": CID, "success": True, "detail": {"transition": transition}}
    (folder / "backtest_20260101.log").write_text(json.dumps(line) + "\n")


def test_an_unaudited_approval_is_taken_back_with_both_files(tmp_path: Path) -> None:
    crash_after_files(tmp_path / "evidence")
    store = ChangeStore.load(tmp_path / "evidence", tmp_path / "audit")
    assert store.requests[CID].state == "pending" and len(store.requests[CID].history) == 1
    assert (
        store.active(("sma_cross", "GOOG", "1d")) is None and not (tmp_path / "evidence/changes/params.json").exists()
    )
    assert not list((tmp_path / "evidence" / "changes").glob("*.intent.json"))


def test_an_audited_approval_is_kept(tmp_path: Path) -> None:
    crash_after_files(tmp_path / "evidence")
    audit(tmp_path / "audit", transition=2)
    store = ChangeStore.load(tmp_path / "evidence", tmp_path / "audit")
    assert store.requests[CID].state == "active" and store.active(("sma_cross", "GOOG", "1d")).version == 1
    assert not list((tmp_path / "evidence" / "changes").glob("*.intent.json"))


def test_an_audit_line_of_another_transition_does_not_keep_it(tmp_path: Path) -> None:
    crash_after_files(tmp_path / "evidence")
    audit(tmp_path / "audit", transition=1)  # the submit's number, not the approval's
    store = ChangeStore.load(tmp_path / "evidence", tmp_path / "audit")
    assert store.requests[CID].state == "pending"
