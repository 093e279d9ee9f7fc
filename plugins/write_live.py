"""The ``write`` plugin's live-session routes (issue 11): ``POST /api/live/start`` and ``DELETE /api/live/stop/<id>``.

Admin only (DESIGN.md's mutation table); a start counts in the "starts" rate bucket it shares with backtest starts.
The live actor decides, audits (``live.start``, ``live.stop``) and answers; what the HTTP layer refuses itself (no
token, a role below admin, the rate limit, a body that is not JSON or does not hold) is audited here. Switching the
``write`` plugin off answers 404 here too.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from spark.api.ratelimit import RateLimiter
from spark.api.wire import body_bytes, json_response, parse_json
from spark.errors import SparkError
from spark.ids import check_session_id
from spark.plugin.services import Services

from .guard import Guard

__all__ = ["live_blueprint"]


def live_blueprint(services: Services, guard: Guard, starts: RateLimiter) -> Blueprint:
    bp = Blueprint("write_live", __name__)

    @bp.post("/api/live/start")
    async def start() -> Response:
        guard.gate()
        caller, auth_error = guard.identify("admin", "starting a live session")
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
            await guard.refuse("live.start", caller, None, payload, exc)
            raise
        return json_response(await services.start_live(payload, caller), 201)  # audited by the system

    @bp.delete("/api/live/stop/<session_id>")
    async def stop(session_id: str) -> Response:
        guard.gate()
        caller, auth_error = guard.identify("admin", "stopping a live session")
        try:
            if auth_error is not None:
                raise auth_error
            body_bytes()  # a stop takes no body, but an oversized one is still refused, never left unread
            check_session_id(session_id)
        except SparkError as exc:
            await guard.refuse("live.stop", caller, None, {"id": session_id[:64]}, exc)
            raise
        return json_response(await services.stop_live(session_id, caller))

    return bp
