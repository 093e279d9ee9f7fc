"""What every HTTP request leaves behind: the ``spark_http_*`` metrics and one log line (``spark.http``).

- ``spark_http_requests_total{route,method,status}`` counts every answer, errors and refusals included;
  ``spark_http_request_duration_seconds{route,method}`` times it from arrival (before its body is read) to its
  answer's headers. Server-Sent-Event streams are counted but not timed: their "duration" is how long a client
  stays, which says nothing about latency.
- ``route`` is the matched route's template with the converters dropped and id parameters named ``<id>``
  (``/api/backtest/<id>/equity``), never the raw path, so the number of series stays bounded whatever clients
  send; a path no route matches is the one label ``unmatched``. Methods outside the HTTP set are ``other``.
- The log line carries method, route, path, status, duration, client and the user's name (set by
  `spark.api.auth.authenticate` when a token matched; null otherwise). Tokens, query strings and bodies are
  never logged: the path is logged without its query, and nothing of the request's headers but the client
  address.

`install_observer` must run first in `create_app` so its ``before_request`` precedes the body read (a request
refused for its size is counted and timed too).
"""

from __future__ import annotations

import logging
import re
import time

from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.routing import Rule

from spark.logs import fields
from spark.metrics import Metrics

__all__ = ["MAX_LOGGED_PATH", "UNMATCHED", "install_observer", "route_label"]

log = logging.getLogger("spark.http")

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_STREAM = "text/event-stream"
MAX_LOGGED_PATH = 200


def route_label(rule: Rule | None) -> str:
    """``/api/backtest/<run:run_id>/equity`` -> ``/api/backtest/<id>/equity``; no rule -> ``unmatched``."""
    if rule is None:
        return UNMATCHED

    def name(match: re.Match[str]) -> str:
        param = match.group(1)
        return "<id>" if param == "id" or param.endswith("_id") else f"<{param}>"

    return _PARAM.sub(name, rule.rule)


def install_observer(app: QuartTrio, metrics: Metrics) -> None:
    """Count, time and log every request ``app`` answers (module docstring)."""

    @app.before_request
    async def _arrived() -> None:
        g.spark_arrived = time.perf_counter()

    @app.after_request
    async def _answered(response: Response) -> Response:
        arrived = getattr(g, "spark_arrived", None)
        elapsed = 0.0 if arrived is None else time.perf_counter() - arrived
        route = route_label(request.url_rule)
        method = request.method if request.method in _METHODS else "other"
        status = response.status_code
        metrics.http_requests.labels(route=route, method=method, status=str(status)).inc()
        streaming = (response.mimetype or "") == _STREAM
        if not streaming:
            metrics.http_duration.labels(route=route, method=method).observe(elapsed)
        path = _printable(request.path[:MAX_LOGGED_PATH])  # no query string; long paths cut; one line
        log.info(
            "%s %s %s %.1fms",
            method,
            path,
            status,
            elapsed * 1000,
            extra=fields(
                event="request",
                method=method,
                route=route,
                path=path,
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                client=request.remote_addr,
                user=getattr(g, "spark_user", None),
                stream=streaming,
            ),
        )
        return response


def _printable(text: str) -> str:
    """Control characters a client put in its path (``%0A``...) escaped, so a request is always one log line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
