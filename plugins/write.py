"""The built-in ``write`` plugin: the guarded mutations ``POST /api/backtest/start``,
``DELETE /api/backtest/cancel/<id>`` and ``DELETE /api/backtest/<id>``.

Operators roll mutations back by switching this plugin off (``SPARK_DISABLED_PLUGINS=write`` + SIGHUP): the routes
stay registered and answer 404 while ``services.plugin_enabled("write")`` is false, so switching it back on restores
them without a restart. Each refused attempt (bad or missing token, rate limit, bad body, bad id) is audited here
before the answer; a successful one is audited by the system inside ``services.start``/``cancel``. If the audit
cannot be written the attempt is refused with 503.

Order for a start: the body (already read, bounded), the token (its verdict decides the audited ``user``), the rate
limit (every attempt from an address counts, so token guessing is throttled too), then the body's content.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart import Blueprint, Response

from spark.api.ratelimit import RateLimiter
from spark.api.wire import body_bytes, json_response, parse_json
from spark.errors import SparkError
from spark.ids import check_run_id
from spark.plugin.feeds import FeedEnv
from spark.plugin.hookspecs import hookimpl
from spark.plugin.request import RunRequest
from spark.plugin.services import Services

from .guard import Guard
from .write_changes import changes_blueprint

__all__ = ["register_routes"]

NAME = "write"
MUTATIONS_PER_MINUTE = 60  # DESIGN's "mutations" rate bucket, per client IP


@hookimpl
def register_routes(register: Callable[[Any], None], services: Services) -> None:
    register(write_blueprint(services))
    register(changes_blueprint(services, Guard(services, NAME)))


def write_blueprint(services: Services) -> Blueprint:
    bp = Blueprint(NAME, __name__)
    limiter = RateLimiter()
    deletes = RateLimiter()  # DESIGN's "mutations" bucket

    guard = Guard(services, NAME)
    gate, identify, refuse = guard.gate, guard.identify, guard.refuse

    @bp.post("/api/backtest/start")
    async def start() -> Response:
        gate()
        caller, auth_error = identify("operator", "starting a run")
        payload: Any = None
        try:
            settings = services.settings
            limiter.hit(caller.ip, limit=settings.rate_limit_per_minute, max_keys=settings.rate_limit_max_ips)
            if auth_error is not None:
                raise auth_error
            raw = body_bytes()
            try:
                payload = parse_json(raw)
            except SparkError:
                payload = {"unparsed": raw[:256].decode("utf-8", "replace")}  # what was tried, for the audit
                raise
            run_request = RunRequest.parse(
                payload, services.plugins, FeedEnv(data_dir=settings.data_dir, restricted=True)
            )
        except SparkError as exc:
            await refuse("start", caller, None, payload, exc)
            raise  # refuse() raised already; keeps type checkers content
        answer = await services.start(run_request, caller, payload)
        return json_response(answer, 201)

    @bp.delete("/api/backtest/cancel/<run_id>")
    async def cancel(run_id: str) -> Response:
        gate()
        caller, auth_error = identify("operator", "cancelling a run")
        try:
            if auth_error is not None:
                raise auth_error
            body_bytes()  # a cancel takes no body, but an oversized one is still refused, never left unread
            check_run_id(run_id)
        except SparkError as exc:
            await refuse("cancel", caller, None, {"id": run_id[:64]}, exc)
            raise
        return json_response(await services.cancel(run_id, caller))

    @bp.delete("/api/backtest/<run:run_id>")
    async def delete(run_id: str) -> Response:
        gate()
        caller, auth_error = identify("admin", "deleting a run")
        try:
            settings = services.settings
            deletes.hit(caller.ip, limit=MUTATIONS_PER_MINUTE, max_keys=settings.rate_limit_max_ips)
            if auth_error is not None:
                raise auth_error
            body_bytes()
            check_run_id(run_id)
        except SparkError as exc:
            await refuse("delete", caller, None, {"id": run_id[:64]}, exc)
            raise
        return json_response(await services.delete(run_id, caller))

    return bp
