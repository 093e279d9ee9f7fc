"""The service's log lines, for an operator to read (text) or a collector to parse (JSON, one object a line).

Every line has ``ts`` (UTC ISO-8601 with ``Z``, milliseconds), ``level``, ``logger`` and ``message``; lines that
record an event carry its fields too, handed over as ``extra=fields(event=..., ...)``:

- ``request`` (spark.http): method, route, path, status, duration_ms, client, user (the name, never a token);
- ``run`` (spark.runs): id, status, error, strategy, each time a run changes status;
- ``reload`` (spark.server): outcome (``ok`` | ``failed``), changes or error, for SIGHUP and `spark reload`;
- ``audit_failed`` (spark.actors.auditor): the audit log could not be written, so the mutations were refused.

Text: ``2026-12-02T09:44:55.123Z INFO  spark.http GET /api/backtest 200 1.2ms client=127.0.0.1 user=-``.
Nothing here reads a request: tokens and bodies are kept out by what the callers hand over, and, as a last guard,
`configure` takes the secrets it knows (ADMIN_TOKEN) and replaces them wherever they would appear in a line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any, Literal

__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "configure", "default_format", "fields"]

FORMATS = ("text", "json")
_FIELDS = "spark_fields"
_REDACTED = "[redacted]"


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the event's fields, written as JSON keys or ``key=value`` pairs."""
    return {_FIELDS: values}


def default_format(stream: IO[str]) -> Literal["text", "json"]:
    """Text for a person at a terminal, JSON for anything else (a file, a pipe, a collector)."""
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Scrubbing(logging.Formatter):
    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def _scrub(self, text: str) -> str:
        for secret in self._secrets():
            if secret and secret in text:
                text = text.replace(secret, _REDACTED)
        return text


class JsonFormatter(_Scrubbing):
    """One JSON object a line: ts, level, logger, message, the event's fields, and ``exc`` for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in getattr(record, _FIELDS, {}).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return self._scrub(json.dumps(doc, ensure_ascii=False, default=str, separators=(",", ":")))


class TextFormatter(_Scrubbing):
    """``ts LEVEL logger message key=value ...``; values with spaces or quotes are quoted (repr), so one line stays
    one line."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), f"{record.levelname:<5}", record.name, record.getMessage()]
        for key, value in getattr(record, _FIELDS, {}).items():
            if key in ("event", "method", "path", "status", "duration_ms") and record.name == "spark.http":
                continue  # already in the message
            parts.append(f"{key}={_text_value(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._scrub(line)


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if not text or any(c.isspace() or c in "\"'=" for c in text) or not text.isprintable():
        return repr(text)
    return text


def configure(
    fmt: str,
    *,
    stream: IO[str] | None = None,
    level: int = logging.INFO,
    secrets: Callable[[], Iterable[str]] = lambda: (),
) -> logging.Handler:
    """Send every log line of the process to ``stream`` (stderr) in ``fmt``; replaces handlers set before (a second
    call, a test). Hypercorn's own loggers go through it too. Returns the handler."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("hypercorn.error", "hypercorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
