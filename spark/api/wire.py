"""Bytes on the wire: bounded request bodies, strict JSON, the client's address, JSON answers.

Every request's body is read (bounded by ``Settings.max_body_bytes``, or by the setting a view names with
`body_limit`, e.g. an upload's ``max_upload_bytes``) before any route answers: Hypercorn's trio worker can stall a
keep-alive connection whose body was left unread. An oversized body is answered 413 with ``Connection: close`` so
the unread rest cannot confuse the next request on that connection.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from quart import Response, g, request

from spark.config import Settings
from spark.engine.params import INT_LIMIT
from spark.errors import InputError, PayloadTooLarge
from spark.plugin.request import refuse_unencodable

__all__ = ["body_bytes", "body_limit", "body_limit_of", "client_ip", "json_response", "parse_json", "read_body"]

_NO_BODY = b""
_LIMIT_ATTR = "spark_body_limit"
_View = TypeVar("_View", bound=Callable[..., Any])


def body_limit(setting: str) -> Callable[[_View], _View]:
    """Decorate a view (under its route decorator) whose body may be as large as ``Settings.<setting>`` instead of
    ``max_body_bytes``: only that route takes large bodies."""
    if setting not in {f.name for f in fields(Settings)}:
        raise ValueError(f"no setting {setting!r}")

    def mark(view: _View) -> _View:
        setattr(view, _LIMIT_ATTR, setting)
        return view

    return mark


def body_limit_of(view: object, settings: Settings) -> int:
    """The body limit of ``view`` (None: no route matched) under ``settings``."""
    setting = getattr(view, _LIMIT_ATTR, None)
    return int(getattr(settings, setting)) if setting else settings.max_body_bytes


async def read_body(limit: int) -> None:
    """Read this request's body into ``g`` (at most ``limit`` bytes); an oversized body is kept as an error.

    Called before routing answers. The error is raised later by `body_bytes` (routes that audit it) or at once.
    """
    g.spark_body = _NO_BODY
    g.spark_body_error = None
    length = request.content_length
    if length is not None and length > limit:
        g.spark_body_error = PayloadTooLarge(f"the body is {length} bytes; the limit is {limit}")
        return
    data = bytearray()
    async for chunk in request.body:
        data += chunk
        if len(data) > limit:
            g.spark_body_error = PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            return
    g.spark_body = bytes(data)


def body_bytes() -> bytes:
    """The body `read_body` kept; raises PayloadTooLarge when it was over the limit."""
    error = getattr(g, "spark_body_error", None)
    if error is not None:
        raise error
    return getattr(g, "spark_body", _NO_BODY)


class _OutOfRange(ValueError):
    """A number the decoder met that no field can hold."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _OutOfRange(f"the number {text[:40]} is out of the float range")
    return value


def _bounded_int(text: str) -> int:
    """An integer literal of magnitude below 2**63; checked on its length first, so a 5,000-digit literal is never
    converted."""
    if len(text.lstrip("-")) > 19 or abs(value := int(text)) >= INT_LIMIT:
        shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"
        raise _OutOfRange(f"the integer {shown} is out of range (the limit is +-2**63)")
    return value


def parse_json(data: bytes) -> Any:
    """Decode a UTF-8 JSON document strictly; an empty body is None.

    Refuses (InputError, 400) bad UTF-8, bad JSON, NaN/Infinity, floats beyond the float range, integers of
    magnitude 2**63 or more, strings or keys holding a lone UTF-16 surrogate (``"\\ud800"``: nothing could store
    them), and nesting so deep that the decoder would recurse out of stack: a client's input never becomes a 500.
    """
    if not data.strip():
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except RecursionError:
        raise InputError("the JSON body is nested too deeply") from None
    except _OutOfRange as exc:
        raise InputError(f"the body holds a number no field can take: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, NaN
        raise InputError(f"the body is not valid JSON: {exc}") from None
    if "\\u" in text:  # a surrogate can only arrive as an escape: valid UTF-8 bytes never decode to one
        refuse_unencodable(doc)
    return doc


def client_ip(settings: Settings) -> str:
    """The client's address: the socket peer, or with ``trusted_proxies`` = N > 0 the N-th address from the right
    of ``X-Forwarded-For`` (what the outermost trusted proxy saw). A header that does not parse is ignored."""
    client = request.scope.get("client") if hasattr(request, "scope") else None
    peer = str(client[0]) if client else (request.remote_addr or "unknown")
    hops = settings.trusted_proxies
    if hops <= 0:
        return peer
    values = request.headers.getlist("X-Forwarded-For")
    chain = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not chain:
        return peer
    candidate = chain[-hops] if len(chain) >= hops else chain[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON answer (``application/json``)."""
    try:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or infinity somewhere in a stored document: JSON has no word for it
        doc = _finite(doc)
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in a stored document or a message: escaped, never a 500
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")
    response = Response(body, status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _finite(doc: Any) -> Any:
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {key: _finite(value) for key, value in doc.items()}
    if isinstance(doc, list | tuple):
        return [_finite(value) for value in doc]
    return doc
