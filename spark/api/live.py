"""Read routes of live sessions (anyone may read them): ``GET /api/live`` and ``GET /api/live/<id>``."""

from __future__ import annotations

from quart import Blueprint, Response, request

from spark.api.wire import json_response
from spark.errors import InputError
from spark.plugin.services import Services

__all__ = ["MAX_POINTS", "live_routes"]

MAX_POINTS = 10_000


def live_routes(services: Services) -> Blueprint:
    bp = Blueprint("live", __name__)

    @bp.get("/api/live")
    async def sessions() -> Response:
        for name in request.args:
            if name != "status":
                raise InputError(f"unknown query parameter {name[:40]!r} (allowed: status)", field=name[:40])
        status = request.args.get("status")
        if status is not None and status not in ("running", "stopped", "failed"):
            raise InputError(f"status must be running, stopped or failed; got {status[:40]!r}", field="status")
        found = [s for s in services.live_sessions() if status is None or s["status"] == status]
        return json_response({"sessions": found, "total": len(found)})

    @bp.get("/api/live/<id:session_id>")
    async def session(session_id: str) -> Response:
        for name in request.args:
            if name != "points":
                raise InputError(f"unknown query parameter {name[:40]!r} (allowed: points)", field=name[:40])
        raw = request.args.get("points", "2000")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_POINTS:
            raise InputError(f"points must be a whole number 1..{MAX_POINTS}", field="points")
        return json_response(await services.live_session(session_id[:64], int(raw)))

    return bp
