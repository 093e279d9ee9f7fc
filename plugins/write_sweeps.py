"""The ``write`` plugin's sweep routes (issue 10): ``POST /api/sweeps`` and ``DELETE /api/sweeps/cancel/<id>``.

Operator role (DESIGN.md's mutation table); a start counts in the "starts" rate bucket it shares with backtest and
live starts, a cancel in none. The system checks the body and the sweeps actor decides, audits (``sweep.start``,
``sweep.cancel``) and answers; what the HTTP layer refuses itself (no token, a role below operator, the rate limit,
a body that is not JSON, a bad id) is audited here. Switching the ``write`` plugin off answers 404 here too.
"""

from __future__ import annotations

from quart import Blueprint, Response

from spark.api.ratelimit import RateLimiter
from spark.api.wire import json_response
from spark.plugin.services import Services
from spark.research.evidence import check_sweep_id

from .guard import Guard

__all__ = ["sweeps_blueprint"]


def sweeps_blueprint(services: Services, guard: Guard, starts: RateLimiter) -> Blueprint:
    bp = Blueprint("write_sweeps", __name__)

    @bp.post("/api/sweeps")
    async def start() -> Response:
        limit = services.settings.rate_limit_per_minute
        caller, payload = await guard.admit_body("sweep.start", "operator", "starting a sweep", starts, limit)
        return json_response(await services.start_sweep(payload, caller), 201)  # audited by the system

    @bp.delete("/api/sweeps/cancel/<sweep_id>")
    async def cancel(sweep_id: str) -> Response:
        caller = await guard.admit_target("sweep.cancel", "operator", "cancelling a sweep", sweep_id, check_sweep_id)
        return json_response(await services.cancel_sweep(sweep_id, caller))

    return bp
