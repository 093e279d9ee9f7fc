"""Read routes of sweeps and walk-forwards (anyone may read them): ``GET /api/sweeps``, ``GET /api/sweeps/<id>``
and ``GET /api/sweeps/<id>/results?sort=-sharpe&limit=100&offset=0``. Unknown query parameters are a 400."""

from __future__ import annotations

from quart import Blueprint, Response, request

from spark.api.wire import json_response
from spark.errors import InputError
from spark.plugin.services import Services

__all__ = ["MAX_LIMIT", "sweep_routes"]

MAX_LIMIT = 1000
MAX_POINTS = 10_000
STATUSES = ("queued", "running", "done", "failed")
KINDS = ("sweep", "walkforward")


def _only(*allowed: str) -> None:
    for name in request.args:
        if name not in allowed:
            raise InputError(
                f"unknown query parameter {name[:40]!r} (allowed: {', '.join(allowed) or 'none'})", field=name[:40]
            )


def _whole(name: str, default: str, low: int, high: int) -> int:
    raw = request.args.get(name, default)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError(f"{name} must be a whole number {low}..{high}", field=name)
    return int(raw)


def sweep_routes(services: Services) -> Blueprint:
    bp = Blueprint("sweeps", __name__)

    @bp.get("/api/sweeps")
    async def sweeps() -> Response:
        _only("status", "kind")
        status, kind = request.args.get("status"), request.args.get("kind")
        if status is not None and status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}; got {status[:40]!r}", field="status")
        if kind is not None and kind not in KINDS:
            raise InputError(f"kind must be sweep or walkforward; got {kind[:40]!r}", field="kind")
        found = services.sweeps(status, kind)
        return json_response({"sweeps": found, "total": len(found)})

    @bp.get("/api/sweeps/<sweep_id>")
    async def sweep(sweep_id: str) -> Response:
        _only("points")
        return json_response(await services.sweep(sweep_id[:64], _whole("points", "2000", 2, MAX_POINTS)))

    @bp.get("/api/sweeps/<sweep_id>/results")
    async def results(sweep_id: str) -> Response:
        _only("sort", "limit", "offset")
        limit = _whole("limit", "100", 1, MAX_LIMIT)
        offset = _whole("offset", "0", 0, 10**9)
        sort = request.args.get("sort") or None
        return json_response(await services.sweep_results(sweep_id[:64], sort, limit, offset))

    return bp
