"""The OpenAPI paths of the guardrails' routes: change requests, their decisions, and the parameter sets."""

from __future__ import annotations

from typing import Any

__all__ = ["change_paths"]

_ID = {
    "name": "change_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^cr-[0-9]{13}-[0-9a-f]{8}$"},
}
_ERRORS = {str(s): {"$ref": f"#/components/responses/E{s}"} for s in (400, 401, 403, 404, 405, 409, 413, 429, 500, 503)}
_DOC = {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}


def _op(summary: str, status: int, roles: str, body: dict[str, Any] | None, security: list[Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": f"{summary} ({roles}; audited)",
        "security": security,
        "responses": {str(status): {"description": "the change request", "content": _DOC}, **_ERRORS},
    }
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


def change_paths(security: list[Any]) -> dict[str, Any]:
    request = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "strategy": {"type": "string"},
            "pair": {"type": "string"},
            "timeframe": {"type": "string"},
            "params": {"type": "object", "additionalProperties": True},
            "rationale": {"type": "string", "maxLength": 4000},
            "evidence": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "runs": {"type": "array", "items": {"type": "string"}},
                    "sweep": {"type": "string", "nullable": True},
                    "walkForward": {"type": "string", "nullable": True},
                },
            },
        },
    }
    decision = {
        "type": "object",
        "additionalProperties": False,
        "nullable": True,
        "properties": {"reason": {"type": "string", "maxLength": 2000}, "paramsSha": {"type": "string"}},
    }
    read = {"description": "found", "content": _DOC}
    state = {
        "name": "state",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["pending", "active", "rejected", "withdrawn", "expired", "superseded"]},
    }
    paths: dict[str, Any] = {
        "/api/changes": {
            "get": {
                "summary": "Change requests, newest first",
                "parameters": [state],
                "responses": {"200": read, **_ERRORS},
            },
            "post": {
                **_op("Submit a change request: diff and gates computed", 201, "operator", request, security),
                "parameters": [],
            },
        },
        "/api/changes/{change_id}": {
            "get": {
                "summary": "One change request, with the active set it would replace",
                "parameters": [_ID],
                "responses": {"200": read, **_ERRORS},
            },
            "patch": {
                **_op(
                    "Edit a change request: back to pending, approvals void", 200, "the requester", request, security
                ),
                "parameters": [_ID],
            },
        },
        "/api/params": {
            "get": {"summary": "Parameter sets, active and superseded", "responses": {"200": read, **_ERRORS}}
        },
    }
    for action, roles in (
        ("approve", "approver, never the requester"),
        ("reject", "approver"),
        ("withdraw", "the requester or an admin"),
    ):
        paths[f"/api/changes/{{change_id}}/{action}"] = {
            "post": {
                **_op(f"{action.capitalize()} a pending change request", 200, roles, decision, security),
                "parameters": [_ID],
            },
        }
    return paths
