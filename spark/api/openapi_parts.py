"""Building blocks of the OpenAPI document, shared by the modules that describe each group of routes."""

from __future__ import annotations

from typing import Any

__all__ = ["REF", "RUN_ID", "errors", "get", "json_content", "ok", "query"]

REF = "#/components/"
RUN_ID = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^bt-[0-9]{13}-[0-9a-f]{8}$"},
}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {str(status): {"description": description, "content": json_content(schema)}}


def errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"{REF}responses/E{s}"} for s in statuses}


def get(summary: str, responses: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **errors(400, 404, 405, 413)}}
    if parameters:
        op["parameters"] = parameters
    return {"get": op}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
