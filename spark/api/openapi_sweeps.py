"""The OpenAPI paths of sweeps and walk-forwards (issue 10): start, cancel, the list, one sweep, its results."""

from __future__ import annotations

from typing import Any

from spark.api.openapi_parts import errors, json_content, query

__all__ = ["sweep_paths"]

_ID = {
    "name": "sweep_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^(sw|wf)-[0-9]{13}-[0-9a-f]{8}$"},
}
_DOC = json_content({"type": "object", "additionalProperties": True})
_VALUES = {
    "oneOf": [
        {
            "type": "string",
            "description": "a:b:step, both ends included (a:b steps by 1 for ints)",
            "example": "5:50:5",
        },
        {"type": "array", "maxItems": 100, "items": {}},
    ]
}
_RANGE = {
    "oneOf": [
        {"type": "string", "description": "low:high[:step]", "example": "5:50"},
        {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}},
        {"type": "object", "additionalProperties": True, "description": "{low, high, step, log} or {choices}"},
    ]
}
SUMMARY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string", "enum": ["sweep", "walkforward"]},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "done": {"type": "integer"},
        "total": {"type": "integer", "nullable": True},
        "best": {"type": "object", "nullable": True, "additionalProperties": True},
        "error": {"type": "string", "nullable": True},
    },
    "additionalProperties": True,
}


def sweep_paths(security: list[Any], options_schema: dict[str, Any]) -> dict[str, Any]:
    walk = {
        "type": "object",
        "nullable": True,
        "additionalProperties": False,
        "properties": {
            "folds": {"type": "integer", "minimum": 1, "maximum": 1000},
            "mode": {"type": "string", "enum": ["rolling", "anchored"]},
            "trainBars": {"type": "integer", "minimum": 1},
            "testBars": {"type": "integer", "minimum": 1},
            "purgeBars": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["auto"]}]},
            "embargoBars": {"type": "integer", "minimum": 0},
        },
    }
    start = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "strategy": {"type": "string", "default": "sma_cross"},
            "feed": {"type": "object", "additionalProperties": True, "description": "{name, args}, as for a run"},
            "options": options_schema,
            "grid": {"type": "object", "maxProperties": 8, "additionalProperties": _VALUES},
            "space": {"type": "object", "maxProperties": 8, "additionalProperties": _RANGE},
            "method": {"type": "string", "enum": ["grid", "random", "tpe"]},
            "trials": {"type": "integer", "minimum": 1},
            "seed": {"type": "integer", "minimum": 0},
            "objective": {"type": "string", "description": "a stat, [max:|min:]stat", "example": "sharpe"},
            "constraints": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "min<Stat> / max<Stat> bounds, e.g. {minTrades: 10}",
            },
            "walkForward": walk,
        },
    }
    status = query("status", {"type": "string", "enum": ["queued", "running", "done", "failed"]}, "only this status")
    kind = query("kind", {"type": "string", "enum": ["sweep", "walkforward"]}, "only this kind")
    points = query("points", {"type": "integer", "minimum": 2, "maximum": 10000}, "equity points at most")
    sort = query("sort", {"type": "string", "example": "-sharpe"}, "a stat (camelCase), a parameter or index")
    limit = query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "rows per page (100)")
    offset = query("offset", {"type": "integer", "minimum": 0}, "rows to skip")
    read = errors(400, 404, 405, 413)
    return {
        "/api/sweeps": {
            "get": {
                "summary": "Sweeps and walk-forwards, newest first: {sweeps, total}",
                "parameters": [status, kind],
                "responses": {
                    "200": {
                        "description": "found",
                        "content": json_content(
                            {"type": "object", "properties": {"sweeps": {"type": "array", "items": SUMMARY}}}
                        ),
                    },
                    **read,
                },
            },
            "post": {
                "summary": "Start a sweep (sw-), or a walk-forward with walkForward (wf-) (operator; audited "
                "sweep.start; the starts rate bucket)",
                "security": security,
                "requestBody": {"required": True, "content": json_content(start)},
                "responses": {
                    "201": {"description": "queued: {id, status, startedAt}", "content": _DOC},
                    **errors(400, 401, 403, 404, 405, 413, 429, 500, 503),
                },
            },
        },
        "/api/sweeps/{sweep_id}": {
            "get": {
                "summary": "One sweep: {sweep (its summary), doc (sweep.json), equity (a walk-forward's "
                "outOfSample and inSample curves, or null)}",
                "parameters": [_ID, points],
                "responses": {"200": {"description": "found", "content": _DOC}, **read},
            }
        },
        "/api/sweeps/{sweep_id}/results": {
            "get": {
                "summary": "One page of a sweep's rows {index, params, stats, feasible}: best first, or by sort",
                "parameters": [_ID, sort, limit, offset],
                "responses": {"200": {"description": "found", "content": _DOC}, **read},
            }
        },
        "/api/sweeps/cancel/{sweep_id}": {
            "delete": {
                "summary": "Cancel a queued or running sweep (operator; audited sweep.cancel): it ends failed, "
                "cancelled; again: 200, no change; a done one: 409",
                "security": security,
                "parameters": [_ID],
                "responses": {
                    "200": {"description": "{ok, id, status}", "content": _DOC},
                    **errors(400, 401, 403, 404, 405, 409, 413, 500, 503),
                },
            }
        },
    }
