"""The built-in ``write`` plugin: the guarded mutations ``POST /api/backtest/start``,
``DELETE /api/backtest/cancel/<id>``, ``DELETE /api/backtest/<id>`` and ``POST /api/data`` (an upload of a CSV file
into the data directory).

Operators roll mutations back by switching this plugin off (``SPARK_DISABLED_PLUGINS=write`` + SIGHUP): the routes
stay registered and answer 404 while ``services.plugin_enabled("write")`` is false, so switching it back on restores
them without a restart. Each refused attempt (bad or missing token, rate limit, bad body, bad id) is audited here
before the answer; a successful one is audited by the system inside ``services.start``/``cancel``. If the audit
cannot be written the attempt is refused with 503.

Order for a start: the body (already read, bounded), the token (its verdict decides the audited ``user``), the rate
limit (every attempt from an address counts, so token guessing is throttled too), then the body's content.

An upload goes the same way in the "mutations" rate bucket, its body bounded by ``max_upload_bytes``: the file is
parsed into Candles (a bad file is a 400 naming the line) and written to a temp file before it takes its name (no
overwrite unless ``?replace=true``: a clash is a 409), then audited as ``data.upload`` with its name and size (never
its content); if that audit cannot be written the upload is taken back and the answer is 503. Every refusal is
audited too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from quart import Blueprint, Response, request

from spark.api.data import read_upload, summarise_off_loop, upload_args
from spark.api.ratelimit import RateLimiter
from spark.api.wire import body_bytes, body_limit, json_response
from spark.errors import SparkError
from spark.ids import check_run_id
from spark.plugin.feeds import FeedEnv
from spark.plugin.hookspecs import hookimpl
from spark.plugin.request import RunRequest
from spark.plugin.services import Services
from spark.service.library import StagedUpload, stage_upload

from .guard import Guard
from .write_changes import changes_blueprint
from .write_live import live_blueprint
from .write_sweeps import sweeps_blueprint

__all__ = ["register_routes"]

NAME = "write"


@hookimpl
def register_routes(register: Callable[[Any], None], services: Services) -> None:
    mutations = RateLimiter(what="mutations")  # DESIGN's "mutations" bucket: deletes, uploads, change requests
    starts = RateLimiter(what="starts")  # DESIGN's "starts" bucket: backtest, live-session and sweep starts
    guard = Guard(services, NAME)
    register(write_blueprint(services, guard, mutations, starts))
    register(changes_blueprint(services, guard, mutations))
    register(live_blueprint(services, guard, starts))
    register(sweeps_blueprint(services, guard, starts))


def write_blueprint(
    services: Services, guard: Guard, mutations: RateLimiter, starts: RateLimiter | None = None
) -> Blueprint:
    bp = Blueprint(NAME, __name__)
    limiter = starts if starts is not None else RateLimiter(what="starts")
    gate, identify, refuse = guard.gate, guard.identify, guard.refuse

    @bp.post("/api/backtest/start")
    async def start() -> Response:
        settings = services.settings
        caller, payload = await guard.admit_body(
            "start", "operator", "starting a run", limiter, settings.rate_limit_per_minute
        )
        try:
            run_request = RunRequest.parse(
                payload,
                services.plugins,
                FeedEnv(data_dir=settings.data_dir, restricted=True),
                default_gates=settings.risk_gates,
            )
        except SparkError as exc:
            await refuse("start", caller, None, payload, exc)
            raise  # refuse() raised already; keeps type checkers content
        answer = await services.start(run_request, caller, payload)
        return json_response(answer, 201)

    @bp.delete("/api/backtest/cancel/<run_id>")
    async def cancel(run_id: str) -> Response:
        caller = await guard.admit_target("cancel", "operator", "cancelling a run", run_id, check_run_id)
        return json_response(await services.cancel(run_id, caller))

    @bp.post("/api/data")
    @body_limit("max_upload_bytes")
    async def upload_data() -> Response:
        gate()
        caller, auth_error = identify("operator", "uploading data")
        payload: dict[str, Any] = {"name": (request.args.get("name") or "")[:128] or None, "bytes": None}
        staged: StagedUpload | None = None
        done = False
        try:
            try:
                settings = services.settings
                mutations.hit(
                    caller.ip, limit=settings.mutation_rate_limit_per_minute, max_keys=settings.rate_limit_max_ips
                )
                if auth_error is not None:
                    raise auth_error
                payload["bytes"] = request.content_length
                raw = body_bytes()
                payload["bytes"] = len(raw)
                name, replace = upload_args()
                payload["replace"] = replace
                content_type = request.headers.get("Content-Type", "")
                upload = await trio.to_thread.run_sync(read_upload, content_type, raw, name)
                payload.update(name=upload.name, bytes=len(upload.content))
                staged = await trio.to_thread.run_sync(
                    lambda: stage_upload(
                        settings.data_dir, upload.name, upload.content, replace=replace, summarise=summarise_off_loop
                    )
                )
                description = await trio.to_thread.run_sync(staged.commit)
            except SparkError as exc:
                await refuse("data.upload", caller, None, payload, exc)
                raise
            await services.audit(action="data.upload", caller=caller, run_id=None, payload=payload, success=True)
            done = True
        finally:
            if staged is not None:
                with trio.CancelScope(shield=True):
                    if not done:  # refused, cancelled or not audited: not done, so nothing stays
                        await trio.to_thread.run_sync(staged.undo)
                    await trio.to_thread.run_sync(staged.close)
        return json_response(description, 201)

    @bp.delete("/api/backtest/<run:run_id>")
    async def delete(run_id: str) -> Response:
        gate()
        caller, auth_error = identify("admin", "deleting a run")
        try:
            settings = services.settings
            mutations.hit(
                caller.ip, limit=settings.mutation_rate_limit_per_minute, max_keys=settings.rate_limit_max_ips
            )
            if auth_error is not None:
                raise auth_error
            body_bytes()
            check_run_id(run_id)
        except SparkError as exc:
            await refuse("delete", caller, None, {"id": run_id[:64]}, exc)
            raise
        return json_response(await services.delete(run_id, caller))

    return bp
