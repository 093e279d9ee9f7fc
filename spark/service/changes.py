"""Approved parameter changes: active parameter sets and the change requests that move them (issue 12).

A **parameter set** is the params a strategy runs with on one pair and timeframe, versioned and hashed; at most one
is active per (strategy, pair, timeframe), the ones it replaced are kept as ``superseded``. A **change request**
proposes new params for such a set with evidence (runs, a sweep, a walk-forward of exactly those params); its
states are ``pending -> active | rejected | withdrawn | expired`` (and ``superseded`` once a later request replaces
what it activated). Everything here is data and rules; the registry actor (`spark.actors.registry`) decides,
writes and audits each transition.

Hashes are sha256 over canonical JSON (sorted keys, numbers as floats), so ``10`` and ``10.0`` are one set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from spark.engine.result import camel
from spark.service.record import snake

__all__ = [
    "STATES",
    "Approval",
    "ChangeRequest",
    "Evidence",
    "GateResult",
    "ParamSet",
    "State",
    "Transition",
    "canonical_hash",
    "diff_params",
]

State = Literal["pending", "active", "rejected", "withdrawn", "expired", "superseded"]
STATES: tuple[State, ...] = ("pending", "active", "rejected", "withdrawn", "expired", "superseded")
OPEN: tuple[State, ...] = ("pending",)


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def canonical_hash(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys, numbers as floats)."""
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def diff_params(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """Field by field: ``[{field, from, to}]`` for every param that differs (``from`` null: no active set)."""
    old = old or {}
    return [
        {"field": key, "from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new))
        if _canonical(old.get(key)) != _canonical(new.get(key))
    ]


def _wire(obj: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = _wire(value)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            value = [_wire(v) for v in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[camel(f.name)] = value
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamSet:
    strategy: str
    pair: str
    timeframe: str
    version: int
    params: dict[str, Any]
    params_sha: str
    change_id: str
    activated_at: int
    state: Literal["active", "superseded"] = "active"

    def to_wire(self) -> dict[str, Any]:
        return _wire(self)

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> ParamSet:
        return cls(**{snake(k): v for k, v in doc.items() if snake(k) in _FIELDS["ParamSet"]})


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    runs: tuple[str, ...] = ()
    sweep: str | None = None
    walk_forward: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    """One promotion gate: ``pass``, ``warn`` or ``fail``, with what was measured and the threshold."""

    name: str
    verdict: Literal["pass", "warn", "fail"]
    value: Any
    threshold: Any
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """An approval, bound to what was approved: the params and evidence hashes at that moment."""

    user: str
    at: int
    params_sha: str
    evidence_sha: str
    override: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    action: str
    user: str
    at: int
    from_state: str | None
    to_state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeRequest:
    id: str
    strategy: str
    pair: str
    timeframe: str
    params: dict[str, Any]
    params_sha: str
    rationale: str
    evidence: Evidence
    evidence_sha: str
    requester: str
    state: State
    created_at: int
    updated_at: int
    expires_at: int
    base_version: int | None = None
    diff: tuple[dict[str, Any], ...] = ()
    gates: tuple[GateResult, ...] = ()
    approvals: tuple[Approval, ...] = ()
    history: tuple[Transition, ...] = ()
    activated_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.strategy, self.pair, self.timeframe)

    @property
    def failing(self) -> list[str]:
        return [g.name for g in self.gates if g.verdict == "fail"]

    def replace(self, **changes: Any) -> ChangeRequest:
        return dataclasses.replace(self, **changes)

    def to_wire(self) -> dict[str, Any]:
        doc = _wire(self)
        doc["diff"] = list(self.diff)
        return doc

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> ChangeRequest:
        """Read back a stored request; ValueError when it is not one."""
        try:
            ev = doc["evidence"]
            values = {snake(k): v for k, v in doc.items() if snake(k) in _FIELDS["ChangeRequest"]}
            values["evidence"] = Evidence(
                runs=tuple(ev.get("runs") or ()), sweep=ev.get("sweep"), walk_forward=ev.get("walkForward")
            )
            values["diff"] = tuple(doc.get("diff") or ())
            values["gates"] = tuple(GateResult(**{snake(k): v for k, v in g.items()}) for g in doc.get("gates") or ())
            values["approvals"] = tuple(
                Approval(**{snake(k): v for k, v in a.items()}) for a in doc.get("approvals") or ()
            )
            values["history"] = tuple(
                Transition(**{snake(k): v for k, v in t.items()}) for t in doc.get("history") or ()
            )
            request = cls(**values)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a change request: {exc}") from None
        if request.state not in STATES:
            raise ValueError(f"unknown state {request.state!r}")
        return request


_FIELDS = {
    "ParamSet": {f.name for f in dataclasses.fields(ParamSet)},
    "ChangeRequest": {f.name for f in dataclasses.fields(ChangeRequest)},
}
