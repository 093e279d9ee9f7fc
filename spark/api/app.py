"""`create_app`: the Quart (quart-trio) application over a running system's `Services`.

Routes are built here, once: the read routes, the SSE stream, the OpenAPI document, and whatever blueprints the
plugins hand to ``register_routes`` (the built-in ``write`` plugin adds the mutations). A plugin that config
switches off later keeps its routes registered and gates them per request. Every request's body is read, bounded,
before routing answers (see `spark.api.wire`); every error is JSON (see `spark.api.errors`).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_trio import QuartTrio
from werkzeug.routing import BaseConverter

from spark.api.changes import changes_routes
from spark.api.dashboard import dashboard_blueprint
from spark.api.data import data_routes
from spark.api.errors import install_error_handlers
from spark.api.live import live_routes
from spark.api.observe import install_observer
from spark.api.openapi import openapi_document
from spark.api.routes import read_routes
from spark.api.sse import stream_routes
from spark.api.wire import body_bytes, body_limit_of, json_response, read_body
from spark.errors import PluginError
from spark.plugin.services import Services

__all__ = ["create_app"]


class RunIdConverter(BaseConverter):
    """A path segment that may be an id (a run's, a sweep's, a live session's: ``<run:...>`` or ``<id:...>``):
    anything but the fixed words beside ids (``start``, ``stream``, ``cancel``, ``stop``), so ``/api/backtest/start``
    or ``/api/live/start`` is only the start route and its ``Allow`` lists only its methods. The id's format is
    checked in the route, which answers 400 naming the field."""

    regex = r"(?!(?:start|stream|cancel|stop)(?![^/]))[^/]+"


# Blueprints whose routes take the body themselves (and audit an oversized one); others refuse it at once.
BODY_READING_BLUEPRINTS = frozenset({"write", "write_changes", "write_live"})


def create_app(services: Services) -> QuartTrio:
    """A fresh app bound to ``services``; raises PluginError naming a plugin whose routes cannot be registered."""
    app = QuartTrio("spark")
    app.config["MAX_CONTENT_LENGTH"] = None  # bounded by read_body, per request, from the settings in force
    app.config["JSON_SORT_KEYS"] = False
    app.url_map.strict_slashes = False  # no HTML redirects for a trailing slash
    app.url_map.merge_slashes = False
    app.url_map.converters["run"] = RunIdConverter
    app.url_map.converters["id"] = RunIdConverter
    install_error_handlers(app)
    install_observer(app, services.metrics)  # first: its clock starts before the body is read

    @app.before_request
    async def _take_body() -> None:
        await read_body(body_limit_of(app.view_functions.get(request.endpoint or ""), services.settings))
        if request.blueprint not in BODY_READING_BLUEPRINTS:
            body_bytes()  # raises PayloadTooLarge for an oversized body on any other route

    @app.after_request
    async def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.register_blueprint(read_routes(services))
    app.register_blueprint(data_routes(services))
    app.register_blueprint(stream_routes(services))
    app.register_blueprint(changes_routes(services))
    app.register_blueprint(live_routes(services))
    app.register_blueprint(dashboard_blueprint())

    @app.get("/openapi.json")
    async def openapi() -> Response:
        return json_response(openapi_document(services))

    _register_plugin_routes(app, services)
    return app


def _register_plugin_routes(app: QuartTrio, services: Services) -> None:
    """Each plugin's ``register_routes`` through pluggy, in load order; ``register`` takes only Quart blueprints."""

    def make_kwargs(plugin_name: str) -> dict[str, Any]:
        def register(blueprint: Blueprint) -> None:
            if not isinstance(blueprint, Blueprint):
                raise PluginError(
                    plugin_name, TypeError(f"register_routes expects a quart.Blueprint, got {type(blueprint).__name__}")
                )
            app.register_blueprint(blueprint)

        return {"register": register, "services": services}

    services.plugins.call_each("register_routes", make_kwargs)
