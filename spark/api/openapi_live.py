"""The OpenAPI paths of live sessions (paper trading, issue 11): start, stop, the list and one session."""

from __future__ import annotations

from typing import Any

__all__ = ["live_paths"]

_ID = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^lv-[0-9]{13}-[0-9a-f]{8}$"},
}
_ERRORS = {str(s): {"$ref": f"#/components/responses/E{s}"} for s in (400, 401, 403, 404, 405, 409, 413, 429, 500, 503)}
_DOC = {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}


def live_paths(security: list[Any], options_schema: dict[str, Any]) -> dict[str, Any]:
    start = {
        "type": "object",
        "additionalProperties": False,
        "required": ["pair", "timeframe"],
        "properties": {
            "strategy": {"type": "string", "default": "sma_cross"},
            "params": {"type": "object", "additionalProperties": True},
            "pair": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,32}$"},
            "timeframe": {"type": "string", "example": "1m"},
            "options": options_schema,
            "exchange": {"type": "string", "description": "default: the live_exchange setting (replay)"},
            "warmupBars": {"type": "integer", "minimum": 0},
            "reason": {
                "type": "string",
                "maxLength": 2000,
                "description": "an admin's override: start from params that are not the active set (audited)",
            },
        },
    }
    found = {"description": "found", "content": _DOC}
    status = {
        "name": "status",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["running", "stopped", "failed"]},
    }
    points = {"name": "points", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}}
    return {
        "/api/live": {
            "get": {
                "summary": "Live sessions, newest first: {sessions, total}",
                "parameters": [status],
                "responses": {"200": found, **_ERRORS},
            }
        },
        "/api/live/{session_id}": {
            "get": {
                "summary": "One live session: {session, candles, equity, trades, fills} (the last `points`)",
                "parameters": [_ID, points],
                "responses": {"200": found, **_ERRORS},
            }
        },
        "/api/live/start": {
            "post": {
                "summary": "Start a paper-trading session from the active parameter set (admin; audited live.start; "
                "the starts rate bucket)",
                "security": security,
                "requestBody": {"required": True, "content": {"application/json": {"schema": start}}},
                "responses": {"201": {"description": "started: {id, status, startedAt}", "content": _DOC}, **_ERRORS},
            }
        },
        "/api/live/stop/{session_id}": {
            "delete": {
                "summary": "Stop a live session (admin; audited live.stop); again: 200, no change",
                "security": security,
                "parameters": [_ID],
                "responses": {"200": {"description": "{ok, id, status}", "content": _DOC}, **_ERRORS},
            }
        },
    }
