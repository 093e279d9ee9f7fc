"""The OpenAPI description of the data routes, ``GET /api/data`` and the write plugin's ``POST /api/data``
(a part of `spark.api.openapi`'s document, kept apart so each module stays small)."""

from __future__ import annotations

from typing import Any

from spark.service.library import MAX_FILES

__all__ = ["data_file_schema", "data_paths"]

_REF = "#/components/"


def _ok(description: str, schema: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {str(status): {"description": description, "content": {"application/json": {"schema": schema}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"{_REF}responses/E{s}"} for s in statuses}


def _get(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {**responses, **_errors(400, 404, 405, 413)}}}


def data_file_schema() -> dict[str, Any]:
    """One file of the data directory as ``GET /api/data`` lists it and ``POST /api/data`` answers it."""
    nullable = {
        "bars": "integer",
        "timeframe": "string",
        "start": "integer",
        "end": "integer",
        "symbol": "string",
        "format": "string",
        "delimiter": "string",
        "volume": "string",
        "error": "string",
    }
    props: dict[str, Any] = {name: {"type": kind, "nullable": True} for name, kind in nullable.items()}
    props["format"]["enum"] = ["date", "epoch_ms", "yahoo", None]
    props["delimiter"]["enum"] = [",", ";", None]
    props["volume"]["enum"] = ["present", "absent", None]
    props["start"]["description"] = "the first bar's time, epoch ms"
    props["end"]["description"] = "the last bar's time, epoch ms"
    props["error"]["description"] = "why the file does not parse (the line named); null when it does"
    return {
        "type": "object",
        "required": ["name", "bytes", "modifiedAt", *nullable],
        "properties": {
            "name": {"type": "string"},
            "bytes": {"type": "integer"},
            "modifiedAt": {"type": "integer", "description": "epoch ms"},
            **props,
        },
    }


def data_paths(admin: list[dict[str, list[str]]]) -> dict[str, Any]:
    file_ref = {"$ref": f"{_REF}schemas/DataFile"}
    listing = _get(
        "The CSV files of the data directory with their bars, span, timeframe and layout; a file that does not "
        "parse is listed with its error",
        _ok(
            "files",
            {
                "type": "object",
                "required": ["files", "total"],
                "properties": {
                    "files": {"type": "array", "maxItems": MAX_FILES, "items": file_ref},
                    "total": {"type": "integer", "description": "files in the folder (at most 1000 are listed)"},
                },
            },
        ),
    )
    name = {
        "name": "name",
        "in": "query",
        "required": False,
        "description": "the file name to store it under (required for a raw CSV body; a multipart body's file "
        "name is used otherwise, made safe)",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,95}[.]csv$"},
    }
    replace = {
        "name": "replace",
        "in": "query",
        "required": False,
        "description": "overwrite a file of that name (else a clash is a 409)",
        "schema": {"type": "boolean", "default": False},
    }
    upload = {
        "summary": "Upload a CSV file into the data directory (admin); validated before it is stored",
        "security": admin,
        "parameters": [name, replace],
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        },
        "responses": {
            **_ok("stored", file_ref, 201),
            **_errors(400, 401, 403, 404, 405, 409, 413, 429, 500, 503),
        },
    }
    return {"/api/data": {**listing, "post": upload}}
