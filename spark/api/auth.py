"""The token guard for mutations: who is asking (`authenticate`), and may they (`require`).

Sources, first present wins: ``x-admin-token``, ``Authorization: Bearer <token>``, the cookie ``admin-token``. The
cookie counts only when ``Origin`` (or, without it, ``Referer``) names this server, so a foreign page cannot ride a
browser's cookie (403). A token is ADMIN_TOKEN (the user ``admin``) or a named user's (`spark users`); the lookup
is constant-time over the token hashes, on bytes. A header given twice is refused rather than guessed at. Errors:
AuthError (401, the API adds ``WWW-Authenticate``), Forbidden (403: a credential from the wrong place, or a role
that does not include the one required, said so), NotConfigured (500) when no ADMIN_TOKEN and no user is set.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from quart import g, request

from spark.errors import AuthError, Forbidden, NotConfigured
from spark.plugin.services import Identity, Services
from spark.service.users import at_least

__all__ = ["MAX_TOKEN_BYTES", "authenticate", "require"]

MAX_TOKEN_BYTES = 1024
COOKIE = "admin-token"


def authenticate(services: Services) -> Identity:
    """The user whose token the current request carries; raise otherwise (never says what was wrong with a given
    token, only that it did not match)."""
    if not services.users_configured:
        raise NotConfigured(
            "mutations are disabled: no ADMIN_TOKEN and no users are configured on the server "
            "(set ADMIN_TOKEN, use `make run`, which generates one, or add users with `spark users add`)"
        )
    given = _given_token()
    if given is None:
        raise AuthError(
            "a token is required (x-admin-token header, Authorization: Bearer, or the admin-token cookie from "
            "this site)"
        )
    given_bytes = given.encode("utf-8", "surrogateescape")
    user = None if len(given_bytes) > MAX_TOKEN_BYTES else services.user_for(given_bytes)
    if user is None:
        raise AuthError("the token does not match a user")
    g.spark_user = user.name  # the request's log line names the user (spark.api.observe), never the token
    return user


def require(identity: Identity, role: str, what: str) -> None:
    """Forbidden (403, with the reason) unless ``identity``'s role includes ``role``."""
    if not at_least(identity.role, role):
        raise Forbidden(f"user {identity.name!r} has the role {identity.role}: {what} needs the {role} role")


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
