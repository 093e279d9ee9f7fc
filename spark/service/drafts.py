"""A change request's body checked against what it names, before the registry decides on it (issue 12).

The body: ``{strategy, pair, timeframe, params, rationale, evidence: {runs: [bt-...], sweep: sw-... | null,
walkForward: wf-... | null}}``. Every field is checked and a problem is an InputError naming it (``params.fast``,
``evidence.runs[1]``): unknown strategy or params, runs that do not exist, are not done, or ran other params, a
sweep or walk-forward that does not exist or is for another strategy, a walk-forward whose final choice is not these
params. The evidence's gates are evaluated by the caller (`spark.service.gates`). Blocking (files): call in a thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark.engine.params import validate_params
from spark.errors import InputError
from spark.ids import is_run_id
from spark.plugin.manager import Plugins
from spark.service.changes import ChangeRequest, Evidence, canonical_hash
from spark.service.evidence import read_json
from spark.service.record import RunRecord

__all__ = ["Checked", "check_body"]

_FIELDS = ("strategy", "pair", "timeframe", "params", "rationale", "evidence")
_PAIR = re.compile(r"^[A-Za-z0-9._/-]{1,32}$")
_TIMEFRAME = re.compile(r"^[1-9][0-9]{0,3}[smhdwMy]$")
_SWEEP = re.compile(r"^(sw|wf)-[0-9]{13}-[0-9a-f]{8}$")
MAX_RATIONALE = 4000
MAX_RUNS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """A body that holds: the draft request (state and history left to the registry), the evidence runs, and the
    walk-forward document when there is one."""

    request: ChangeRequest
    runs: list[RunRecord]
    walk_forward: dict[str, Any] | None
    param_count: int


def _text(body: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise InputError(f"{name} must be {what}, got {str(value)[:40]!r}", field=name)
    return value


def check_body(
    body: Any,
    *,
    change_id: str,
    plugins: Plugins,
    run_record: Callable[[str], RunRecord | None],
    evidence_dir: Path,
) -> Checked:
    """Check a submitted (or edited) body; InputError naming the field on the first problem."""
    if not isinstance(body, Mapping):
        raise InputError("the body must be a JSON object")
    for key in body:
        if key not in _FIELDS:
            raise InputError(f"unknown field {str(key)[:40]!r} (allowed: {', '.join(_FIELDS)})", field=str(key)[:40])
    name = body.get("strategy")
    if not isinstance(name, str):
        raise InputError("strategy must be a string", field="strategy")
    spec = plugins.strategy(name)
    pair = _text(body, "pair", _PAIR, "letters, digits and ._/- (at most 32)")
    timeframe = _text(body, "timeframe", _TIMEFRAME, "a number and a unit, like 1m, 4h, 1d")
    raw = body.get("params", {})
    if not isinstance(raw, Mapping):
        raise InputError("params must be an object", field="params")
    params = validate_params(spec.params, raw, check=spec.check)
    rationale = body.get("rationale", "")
    if not isinstance(rationale, str) or len(rationale) > MAX_RATIONALE:
        raise InputError(f"rationale must be text of at most {MAX_RATIONALE} characters", field="rationale")
    evidence, runs, wf = _evidence(body.get("evidence"), spec.name, params, run_record, evidence_dir)
    params_sha = canonical_hash(params)
    evidence_sha = canonical_hash(
        {
            "runs": [[r.id, r.finished_at] for r in runs],
            "sweep": evidence.sweep,
            "walkForward": evidence.walk_forward,
            "walkForwardFinishedAt": (wf or {}).get("finishedAt"),
        }
    )
    request = ChangeRequest(
        id=change_id,
        strategy=spec.name,
        pair=pair,
        timeframe=timeframe,
        params=params,
        params_sha=params_sha,
        rationale=rationale,
        evidence=evidence,
        evidence_sha=evidence_sha,
        requester="",
        state="pending",
        created_at=0,
        updated_at=0,
        expires_at=0,
    )
    return Checked(request=request, runs=runs, walk_forward=wf, param_count=len(spec.params))


def _evidence(
    raw: Any,
    strategy: str,
    params: dict[str, Any],
    run_record: Callable[[str], RunRecord | None],
    evidence_dir: Path,
) -> tuple[Evidence, list[RunRecord], dict[str, Any] | None]:
    if not isinstance(raw, Mapping):
        raise InputError("evidence must be an object {runs, sweep, walkForward}", field="evidence")
    for key in raw:
        if key not in ("runs", "sweep", "walkForward"):
            raise InputError(f"unknown field evidence.{str(key)[:40]}", field=f"evidence.{str(key)[:40]}")
    ids = raw.get("runs", [])
    if not isinstance(ids, list) or not ids or len(ids) > MAX_RUNS:
        raise InputError(f"evidence.runs must name 1 to {MAX_RUNS} runs of these params", field="evidence.runs")
    wanted = canonical_hash(params)
    runs = []
    for i, run_id in enumerate(ids):
        where = f"evidence.runs[{i}]"
        record = run_record(run_id) if is_run_id(run_id) else None
        if record is None:
            raise InputError(f"{where}: no run {str(run_id)[:40]!r}", field=where)
        if record.status != "done":
            raise InputError(f"{where}: run {run_id} is {record.status}, not done", field=where)
        if record.strategy != strategy or canonical_hash(record.params) != wanted:
            raise InputError(
                f"{where}: run {run_id} ran {record.strategy} {record.params}, not these params", field=where
            )
        runs.append(record)
    sweep = _sweep(raw.get("sweep"), "evidence.sweep", "sw", strategy, evidence_dir)
    wf = _sweep(raw.get("walkForward"), "evidence.walkForward", "wf", strategy, evidence_dir)
    if wf is not None:
        final = (_walk_forward_result(wf).get("final") or {}).get("params")
        if not isinstance(final, Mapping) or canonical_hash(dict(final)) != wanted:
            raise InputError(
                f"evidence.walkForward: its final choice {final} is not these params", field="evidence.walkForward"
            )
    evidence = Evidence(
        runs=tuple(ids), sweep=None if sweep is None else sweep["id"], walk_forward=None if wf is None else wf["id"]
    )
    return evidence, runs, None if wf is None else _walk_forward_result(wf)


def _sweep(raw: Any, where: str, kind: str, strategy: str, evidence_dir: Path) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _SWEEP.match(raw) or not raw.startswith(f"{kind}-"):
        raise InputError(f"{where} must be a {kind}- id or null, got {str(raw)[:40]!r}", field=where)
    doc = read_json(Path(evidence_dir) / "sweeps" / raw / "sweep.json")
    if not isinstance(doc, dict):
        raise InputError(f"{where}: no {'walk-forward' if kind == 'wf' else 'sweep'} {raw}", field=where)
    if doc.get("status") != "done":
        raise InputError(f"{where}: {raw} is {doc.get('status')}, not done", field=where)
    if doc.get("strategy") not in (None, strategy):
        raise InputError(f"{where}: {raw} is of strategy {doc.get('strategy')}, not {strategy}", field=where)
    return doc


def _walk_forward_result(doc: dict[str, Any]) -> dict[str, Any]:
    """The walk-forward's report inside its sweep.json (its ``result``), or the document itself."""
    result = doc.get("result")
    return result if isinstance(result, dict) else doc
