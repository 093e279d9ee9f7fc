"""The OpenAPI 3 document served at ``/openapi.json``, written by hand next to the routes it describes.

Strategy and feed names are filled in from the loaded plugins, so the document matches the running server. The
fuzz test (schemathesis, against a real server) keeps it honest: every documented answer, and no 500 from input.
"""

from __future__ import annotations

from typing import Any

from spark.api.openapi_changes import change_paths
from spark.api.openapi_data import data_file_schema, data_paths
from spark.api.openapi_gates import GATES_SCHEMA, denied_paths
from spark.api.openapi_live import live_paths
from spark.api.openapi_parts import REF as _REF
from spark.api.openapi_parts import RUN_ID as _RUN_ID
from spark.api.openapi_parts import errors as _errors
from spark.api.openapi_parts import get as _get
from spark.api.openapi_parts import json_content as _json
from spark.api.openapi_parts import ok as _ok
from spark.api.openapi_parts import query
from spark.api.openapi_report import report_paths
from spark.plugin.request import OPTION_FIELDS
from spark.plugin.services import Services
from spark.service.record import STATUSES, RunRecord, wire_schema
from spark.service.store import SORT_FIELDS

__all__ = ["openapi_document"]

_ERROR_CODES = {
    400: "Invalid input; the field is named when it can be",
    401: "Missing or wrong admin token",
    403: "Token cookie from a foreign origin",
    404: "No such route, run or artifact (or writes off)",
    405: "Method not allowed (see Allow)",
    409: "The run is done (cancel) or not yet ended (delete), or a data file of that name exists",
    413: "Body over the size limit",
    429: "Too many starts or mutations from this address (see Retry-After)",
    500: "Server not configured for this (no ADMIN_TOKEN)",
    503: "Queue full, audit unwritable or client cap reached (see Retry-After)",
}


def _components(services: Services) -> dict[str, Any]:
    nullable_str = {"type": "string", "nullable": True}
    params = {"type": "object", "additionalProperties": True}
    strategies = sorted(
        {*services.plugins.strategies, *(a for s in services.plugins.strategies.values() for a in s.aliases)}
    )
    feeds = sorted(services.plugins.feeds)
    run = wire_schema(RunRecord)  # generated from the record type: it cannot drift from what is served
    param = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string"},
            "default": {},
            "min": {"type": "number", "nullable": True},
            "max": {"type": "number", "nullable": True},
            "help": {"type": "string"},
        },
    }
    start = {
        "type": "object",
        "nullable": True,
        "additionalProperties": False,
        "properties": {
            "pair": {"type": "string", "pattern": "^[A-Za-z0-9._/-]{1,32}$"},
            "timeframe": {"type": "string", "pattern": "^[1-9][0-9]{0,3}[smhdwMy]$"},
            "notes": {"type": "string", "maxLength": 1000},
            "strategy": {"type": "string", "enum": strategies} if strategies else {"type": "string"},
            "params": params,
            "feed": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "enum": feeds} if feeds else {"type": "string"},
                    "args": params,
                },
            },
            "options": {
                "type": "object",
                "additionalProperties": False,
                "properties": {**{name: {} for name in OPTION_FIELDS}, "gates": GATES_SCHEMA},
            },
        },
    }
    error = {
        "type": "object",
        "required": ["error", "message", "field"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "field": nullable_str},
    }
    responses = {
        f"E{status}": {"description": text, "content": _json({"$ref": f"{_REF}schemas/Error"})}
        for status, text in _ERROR_CODES.items()
    }
    return {
        "schemas": {"Run": run, "Param": param, "StartRequest": start, "Error": error, "DataFile": data_file_schema()},
        "responses": responses,
        "securitySchemes": {
            "adminToken": {"type": "apiKey", "in": "header", "name": "x-admin-token"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "adminCookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": "admin-token",
                "description": "accepted only when Origin/Referer is this server",
            },
        },
    }


_LIVE_OPTIONS = {"type": "object", "additionalProperties": False, "properties": {name: {} for name in OPTION_FIELDS}}


def openapi_document(services: Services) -> dict[str, Any]:
    """The document for the routes of `spark.api` and the built-in write plugin."""
    run_ref = {"$ref": f"{_REF}schemas/Run"}
    plugin_list = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "help": {"type": "string"},
                "params": {"type": "array", "items": {"$ref": f"{_REF}schemas/Param"}},
            },
        },
    }
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
    }
    before = {
        "name": "before",
        "in": "query",
        "required": False,
        "description": "a run id: only runs older than it (page with the last id of the previous page)",
        "schema": {"type": "string", "pattern": _RUN_ID["schema"]["pattern"]},
    }

    list_filters = [
        query("status", {"type": "string", "enum": list(STATUSES)}, "only runs in this status"),
        query("strategy", {"type": "string", "minLength": 1, "maxLength": 64}, "only runs of this strategy"),
        query("pair", {"type": "string", "minLength": 1, "maxLength": 64}, "only runs on this market"),
        query(
            "sort",
            {"type": "string", "enum": [*SORT_FIELDS, *(f"-{f}" for f in SORT_FIELDS)]},
            "order by a record field or stat (a leading - for descending); runs without the value come last",
        ),
        query("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0}, "skip (sorted)"),
    ]
    admin = [{"adminToken": []}, {"bearer": []}, {"adminCookie": []}]
    paths: dict[str, Any] = {
        "/api/backtest": _get(
            "Runs, newest first",
            _ok(
                "runs",
                {
                    "type": "object",
                    "required": ["runs", "total"],
                    "properties": {"runs": {"type": "array", "items": run_ref}, "total": {"type": "integer"}},
                },
            ),
            [limit, before, *list_filters],
        ),
        "/api/backtest/{run_id}": _get(
            "A run with its report summary (no per-bar arrays)",
            _ok("the run", {"type": "object", "additionalProperties": True}),
            [_RUN_ID],
        ),
        **report_paths(),
        **denied_paths(),
        "/api/backtest/stream": _get(
            "Server-Sent Events: `snapshot` first, then `run` changes; `Last-Event-ID` resumes",
            {
                "200": {
                    "description": "an endless event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **_errors(503),
            },
            [{"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}}],
        ),
        "/api/strategies": _get(
            "Strategies and their declared parameters",
            _ok("strategies", {"type": "object", "properties": {"strategies": plugin_list}}),
        ),
        "/api/feeds": _get(
            "Data feeds and their declared parameters",
            _ok("feeds", {"type": "object", "properties": {"feeds": plugin_list}}),
        ),
        "/api/config": _get(
            "What the dashboard and `spark status` / `spark reload` need to know",
            _ok(
                "config",
                {
                    "type": "object",
                    "required": [
                        "adminEnabled",
                        "writeEnabled",
                        "impl",
                        "disabledPlugins",
                        "plugins",
                        "pluginGeneration",
                        "reloads",
                        "reloadedAt",
                        "reloadAttempts",
                        "reloadError",
                    ],
                    "properties": {
                        "adminEnabled": {"type": "boolean"},
                        "writeEnabled": {"type": "boolean"},
                        "impl": {"type": "string"},
                        "disabledPlugins": {"type": "array", "items": {"type": "string"}},
                        "plugins": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "plugins in effect: loaded and not disabled",
                        },
                        "pluginGeneration": {
                            "type": "integer",
                            "description": "grows when a reload finds a different plugin set; each run records it",
                        },
                        "reloads": {"type": "integer", "description": "reloads (SIGHUP) that took effect"},
                        "reloadedAt": {"type": "integer", "nullable": True, "description": "epoch ms of the last"},
                        "reloadAttempts": {"type": "integer", "description": "reloads tried, failed ones included"},
                        "reloadError": {
                            "type": "string",
                            "nullable": True,
                            "description": "why the last reload was refused (old config kept); null when it worked",
                        },
                    },
                },
            ),
        ),
        "/api/whoami": {
            "get": {
                "summary": "The user a token belongs to: {user, role}",
                "security": admin,
                "responses": {
                    **_ok(
                        "who",
                        {"type": "object", "properties": {"user": {"type": "string"}, "role": {"type": "string"}}},
                    ),
                    **_errors(400, 401, 403, 405, 413, 500),
                },
            }
        },
        "/health": _get(
            "Liveness of the actors",
            {
                **_ok("alive", {"type": "object", "properties": {"status": {"type": "string"}}}),
                "503": {"description": "an actor stopped", "content": _json({"type": "object"})},
            },
        ),
        "/metrics": _get(
            "Prometheus metrics",
            {
                "200": {
                    "description": "text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        ),
        "/openapi.json": _get("This document", _ok("OpenAPI 3", {"type": "object"})),
        "/api/backtest/start": {
            "post": {
                "summary": "Queue a run (admin)",
                "security": admin,
                "requestBody": {"required": False, "content": _json({"$ref": f"{_REF}schemas/StartRequest"})},
                "responses": {
                    **_ok(
                        "queued",
                        {
                            "type": "object",
                            "required": ["id", "status", "startedAt"],
                            "properties": {
                                "id": {"type": "string"},
                                "status": {"type": "string", "enum": ["queued"]},
                                "startedAt": {"type": "integer"},
                            },
                        },
                        201,
                    ),
                    **_errors(400, 401, 403, 404, 405, 413, 429, 500, 503),
                },
            }
        },
        "/api/backtest/cancel/{run_id}": {
            "delete": {
                "summary": "Cancel a queued or running run (admin); again: no change",
                "security": admin,
                "parameters": [_RUN_ID],
                "responses": {
                    **_ok(
                        "cancelled",
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"type": "boolean"},
                                "id": {"type": "string"},
                                "status": {"type": "string"},
                            },
                        },
                    ),
                    **_errors(400, 401, 403, 404, 405, 409, 413, 500, 503),
                },
            }
        },
    }
    paths["/api/backtest/{run_id}"]["delete"] = {
        "summary": "Delete a done or failed run and its evidence (admin, audited); 409 while it is queued or running",
        "security": admin,
        "parameters": [_RUN_ID],
        "responses": {
            **_ok(
                "deleted",
                {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}, "id": {"type": "string"}, "deleted": {"type": "boolean"}},
                },
            ),
            **_errors(400, 401, 403, 404, 405, 409, 413, 429, 500, 503),
        },
    }
    paths.update(data_paths(admin))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Spark backtest service",
            "version": "0.1.0",
            "description": "Errors are always JSON {error, message, field}.",
        },
        "paths": {**paths, **change_paths(admin), **live_paths(admin, _LIVE_OPTIONS)},
        "components": _components(services),
    }
