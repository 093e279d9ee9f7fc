"""Every error the API answers is JSON ``{"error", "message", "field"}``, never an HTML page.

`spark.errors.SparkError` keeps its own status and code; RateLimited and Unavailable add ``Retry-After``; a 401
carries ``WWW-Authenticate``; a 413 closes the connection (its unread rest must not be taken for the next request).
Werkzeug's HTTP errors (404, 405 with ``Allow``, ...) are rewritten to the same shape, and anything unexpected
becomes a 500 whose details go to the log, not to the client.
"""

from __future__ import annotations

import logging

from quart import Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from spark.api.wire import json_response
from spark.errors import AuthError, PayloadTooLarge, SparkError

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("spark.api")

_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "too_large",
    414: "too_long",
    415: "unsupported",
    429: "rate_limited",
    431: "too_large",
    500: "internal",
    501: "not_implemented",
    503: "unavailable",
}


def error_response(exc: SparkError) -> Response:
    """The JSON answer for one of our errors, with the headers its status calls for."""
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = 'Bearer realm="spark"'
    if isinstance(exc, PayloadTooLarge):
        headers["Connection"] = "close"
    return json_response(exc.to_json(), exc.status, headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status >= 500:
        message = "internal error"
    elif status == 404:
        message = "no such route or resource"
    elif status == 405:
        message = "method not allowed on this route"
    else:
        message = exc.description or exc.name
    doc = {"error": _CODES.get(status, "http_error"), "message": message, "field": None}
    headers = {key: value for key, value in exc.get_headers() if key.lower() in ("allow", "retry-after")}
    if status == 413:
        headers["Connection"] = "close"
    return json_response(doc, status, headers)


def install_error_handlers(app: QuartTrio) -> None:
    """Register the handlers on ``app``: ours, Werkzeug's, and a last-resort 500."""

    @app.errorhandler(SparkError)
    async def _spark(exc: SparkError) -> Response:
        if exc.status >= 500 and exc.code != "not_configured":
            log.error("request failed: %s", exc.message, exc_info=exc)
        return error_response(exc)

    @app.errorhandler(HTTPException)
    async def _werkzeug(exc: HTTPException) -> Response:
        return _http_error(exc)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        return json_response(
            {"error": "internal", "message": "internal error (see the server log)", "field": None}, 500
        )
