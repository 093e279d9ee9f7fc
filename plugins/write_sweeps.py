"""The ``write`` plugin's sweep routes (issue 10): ``POST /api/sweeps`` and ``DELETE /api/sweeps/cancel/<id>``.

Operator role (DESIGN.md's mutation table); a start counts in the "starts" rate bucket it shares with backtest and
live starts, a cancel in none. The system checks the body and the sweeps actor decides, audits (``sweep.start``,
``sweep.cancel``) and answers; what the HTTP layer refuses itself (no token, a role below operator, the rate limit,
a body that is not JSON, a bad id) is audited here. Switching the ``write`` plugin off answers 404 here too.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from spark.api.ratelimit import RateLimiter
from spark.api.wire import body_bytes, json_response, parse_json
from spark.errors import SparkError
from spark.plugin.services import Services
from spark.research.evidence import check_sweep_id

from .guard import Guard

__all__ = ["sweeps_blueprint"]


def sweeps_blueprint(services: Services, guard: Guard, starts: RateLimiter) -> Blueprint:
    bp = Blueprint("write_sweeps", __name__)

    @bp.post("/api/sweeps")
    async def start() -> Response:
        guard.gate()
        caller, auth_error = guard.identify("operator", "starting a sweep")
        payload: Any = None
        try:
            settings = services.settings
            starts.hit(caller.ip, limit=settings.rate_limit_per_minute, max_keys=settings.rate_limit_max_ips)
            if auth_error is not None:
                raise auth_error
            raw = body_bytes()
            try:
                payload = parse_json(raw)
            except SparkError:
                payload = {"unparsed": raw[:256].decode("utf-8", "replace")}
                raise
        except SparkError as exc:
            await guard.refuse("sweep.start", caller, None, payload, exc)
            raise
        return json_response(await services.start_sweep(payload, caller), 201)  # audited by the system

    @bp.delete("/api/sweeps/cancel/<sweep_id>")
    async def cancel(sweep_id: str) -> Response:
        guard.gate()
        caller, auth_error = guard.identify("operator", "cancelling a sweep")
        try:
            if auth_error is not None:
                raise auth_error
            body_bytes()  # a cancel takes no body, but an oversized one is still refused, never left unread
            check_sweep_id(sweep_id)
        except SparkError as exc:
            await guard.refuse("sweep.cancel", caller, None, {"id": sweep_id[:64]}, exc)
            raise
        return json_response(await services.cancel_sweep(sweep_id, caller))

    return bp
