"""Read routes of the guardrails: change requests and the active parameter sets (anyone may read them)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from spark.api.wire import json_response
from spark.errors import InputError, NotFound
from spark.plugin.services import Services
from spark.service.changes import STATES

__all__ = ["changes_routes"]


def changes_routes(services: Services) -> Blueprint:
    bp = Blueprint("changes", __name__)

    @bp.get("/api/changes")
    async def changes() -> Response:
        for name in request.args:
            if name != "state":
                raise InputError(f"unknown query parameter {name[:40]!r} (allowed: state)", field=name[:40])
        state = request.args.get("state")
        if state is not None and state not in STATES:
            raise InputError(f"state must be one of {', '.join(STATES)}; got {state[:40]!r}", field="state")
        found = services.change_requests(state)
        return json_response({"changes": found, "total": len(found)})

    @bp.get("/api/changes/<change_id>")
    async def change(change_id: str) -> Response:
        doc = services.change_request(change_id[:64])
        if doc is None:
            raise NotFound(f"no change request {change_id[:40]}", field="id")
        return json_response(doc)

    @bp.get("/api/params")
    async def params() -> Response:
        sets = services.param_sets()
        return json_response({"sets": sets, "active": [s for s in sets if s["state"] == "active"]})

    return bp
