"""The ``write`` plugin's live-session routes (issue 11): ``POST /api/live/start`` and ``DELETE /api/live/stop/<id>``.

Admin only (DESIGN.md's mutation table); a start counts in the "starts" rate bucket it shares with backtest starts.
The live actor decides, audits (``live.start``, ``live.stop``) and answers; what the HTTP layer refuses itself (no
token, a role below admin, the rate limit, a body that is not JSON or does not hold) is audited here. Switching the
``write`` plugin off answers 404 here too.
"""

from __future__ import annotations

from quart import Blueprint, Response

from spark.api.ratelimit import RateLimiter
from spark.api.wire import json_response
from spark.ids import check_session_id
from spark.plugin.services import Services

from .guard import Guard

__all__ = ["live_blueprint"]


def live_blueprint(services: Services, guard: Guard, starts: RateLimiter) -> Blueprint:
    bp = Blueprint("write_live", __name__)

    @bp.post("/api/live/start")
    async def start() -> Response:
        limit = services.settings.rate_limit_per_minute
        caller, payload = await guard.admit_body("live.start", "admin", "starting a live session", starts, limit)
        return json_response(await services.start_live(payload, caller), 201)  # audited by the system

    @bp.delete("/api/live/stop/<session_id>")
    async def stop(session_id: str) -> Response:
        what = "stopping a live session"
        caller = await guard.admit_target("live.stop", "admin", what, session_id, check_session_id)
        return json_response(await services.stop_live(session_id, caller))

    return bp
