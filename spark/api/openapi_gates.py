"""The OpenAPI parts of the risk gates: ``options.gates`` in a start body, and a run's denials."""

from __future__ import annotations

from typing import Any

from spark.api.openapi_parts import RUN_ID as _RUN_ID
from spark.api.openapi_parts import get as _get
from spark.api.openapi_parts import ok as _ok
from spark.api.openapi_parts import query
from spark.engine.gates import GATE_ORDER, MODES, STATES
from spark.service.denials import MAX_DENIED_PAGE

__all__ = ["GATES_SCHEMA", "denied_paths"]

_MODE = {"type": "string", "enum": list(MODES)}
# options.gates: each gate its limit, or {value, onViolation}; onViolation at the top for the bare ones
GATES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "risk gates (docs/risk-gates.md); a run that gives none gets the risk_gates setting",
    "additionalProperties": False,
    "properties": {
        "onViolation": _MODE,
        **{
            gate: {
                "oneOf": [
                    {"type": "boolean"}
                    if gate == "longOnly"
                    else {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["value"],
                        "properties": {
                            "value": {"type": "boolean"} if gate == "longOnly" else {"type": "number"},
                            "onViolation": _MODE,
                        },
                    },
                ]
            }
            for gate in GATE_ORDER
        },
    },
}


def denied_paths() -> dict[str, Any]:
    """``GET /api/backtest/{run_id}/denied``."""
    return {
        "/api/backtest/{run_id}/denied": _get(
            "One page of the run's risk-gate denials (orders denied or logged, with the gate, the measured value, "
            "the limit and the reason) and its account states (ACTIVE/REDUCING/HALTED); gates null for a run "
            "without gates",
            _ok(
                "denials",
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "gates": {"type": "object", "nullable": True, "additionalProperties": True},
                        "total": {"type": "integer"},
                        "denied": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "bar": {"type": "integer"},
                                    "ts": {"type": "integer"},
                                    "gate": {"type": "string", "enum": list(GATE_ORDER)},
                                    "reason": {"type": "string"},
                                    "order": {"type": "integer", "nullable": True},
                                    "action": {"type": "string", "enum": list(MODES)},
                                    "side": {"type": "string", "enum": ["buy", "sell"]},
                                    "qty": {"type": "number"},
                                    "price": {"type": "number"},
                                    "value": {"type": "number"},
                                    "limit": {"type": "number"},
                                },
                            },
                        },
                        "gateStates": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "bar": {"type": "integer"},
                                    "ts": {"type": "integer"},
                                    "from": {"type": "string", "enum": list(STATES)},
                                    "to": {"type": "string", "enum": list(STATES)},
                                    "drawdownPct": {"type": "number"},
                                },
                            },
                        },
                    },
                },
            ),
            [
                _RUN_ID,
                query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_DENIED_PAGE, "default": 100}, "page"),
                query("offset", {"type": "integer", "minimum": 0, "maximum": 100_000_000, "default": 0}, "skip"),
                query("gate", {"type": "string", "enum": list(GATE_ORDER)}, "only this gate's rows"),
            ],
        ),
    }
