"""The admin token guard for mutations.

Sources, first present wins: ``x-admin-token``, ``Authorization: Bearer <token>``, the cookie ``admin-token``. The
cookie counts only when ``Origin`` (or, without it, ``Referer``) names this server, so a foreign page cannot ride a
browser's cookie (403). Comparison is constant-time over UTF-8 bytes (``hmac.compare_digest`` on str raises on
non-ASCII). A header given twice is refused rather than guessed at. Errors: AuthError (401, the API adds
``WWW-Authenticate``), Forbidden (403), NotConfigured (500) when no ``ADMIN_TOKEN`` is set.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from quart import request

from spark.config import Settings
from spark.errors import AuthError, Forbidden, NotConfigured

__all__ = ["MAX_TOKEN_BYTES", "authenticate"]

MAX_TOKEN_BYTES = 1024
COOKIE = "admin-token"


def authenticate(settings: Settings) -> None:
    """Return when the current request carries the admin token; raise otherwise (never says what was wrong with a
    given token, only that it did not match)."""
    expected = settings.admin_token
    if not expected:
        raise NotConfigured(
            "mutations are disabled: no ADMIN_TOKEN is configured on the server "
            "(set ADMIN_TOKEN, or use `make run`, which generates one)"
        )
    given = _given_token()
    if given is None:
        raise AuthError(
            "an admin token is required (x-admin-token header, Authorization: Bearer, or the "
            "admin-token cookie from this site)"
        )
    given_bytes = given.encode("utf-8", "surrogateescape")
    if len(given_bytes) > MAX_TOKEN_BYTES or not hmac.compare_digest(given_bytes, expected.encode("utf-8")):
        raise AuthError("the admin token does not match")


def _single(name: str) -> str | None:
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise AuthError(f"the {name} header was given more than once")
    return values[0] if values else None


def _given_token() -> str | None:
    header = _single("X-Admin-Token")
    if header is not None:
        return header.strip() or None
    authorization = _single("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        return token.strip()
    cookie = request.cookies.get(COOKIE)
    if cookie is None:
        return None
    if not _same_origin():
        raise Forbidden(
            "the admin-token cookie is accepted only from this server's own pages "
            "(Origin/Referer must name this server)"
        )
    return cookie or None


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    if origin == "null":  # a sandboxed or privacy-stripped page: not provably ours
        return False
    if origin is None:
        origin = request.headers.get("Referer")
    if not origin:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    host = request.headers.get("Host", "")
    return (
        parts.scheme in ("http", "https")
        and parts.scheme == request.scheme
        and bool(host)
        and parts.netloc.lower() == host.lower()
    )
