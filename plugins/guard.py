"""What every route of the ``write`` plugin does before it acts: refuse while the plugin is switched off (404),
find who asks and whether their role may (`spark.api.auth`), and audit a refusal before it is answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spark.api.auth import authenticate, require
from spark.api.ratelimit import RateLimiter
from spark.api.wire import body_bytes, client_ip, parse_json
from spark.errors import NotFound, SparkError
from spark.plugin.services import Caller, Services

__all__ = ["Guard"]


class Guard:
    def __init__(self, services: Services, plugin: str = "write") -> None:
        self.services, self.plugin = services, plugin

    def gate(self) -> None:
        if not self.services.plugin_enabled(self.plugin):
            body_bytes()  # an oversized body still gets its 413 (and a closed connection)
            raise NotFound(f"mutations are switched off on this server (plugin {self.plugin!r} is disabled)")

    def identify(self, role: str, what: str) -> tuple[Caller, SparkError | None]:
        """Who asks, and why they may not (None: they may): no token, a wrong one, or a role below ``role``."""
        ip = client_ip(self.services.settings)
        try:
            user = authenticate(self.services)
        except SparkError as exc:
            return Caller(ip=ip), exc
        caller = Caller(ip=ip, user=user.name, role=user.role)
        try:
            require(user, role, what)
        except SparkError as exc:
            return caller, exc
        return caller, None

    async def refuse(self, action: str, caller: Caller, target: str | None, payload: Any, exc: SparkError) -> None:
        """Audit a refusal the HTTP layer decided, then raise it."""
        await self.services.audit(
            action=action,
            caller=caller,
            run_id=target,
            payload=payload,
            success=False,
            error=f"{exc.code}: {exc.message}",
        )
        raise exc

    async def admit_body(
        self, action: str, role: str, what: str, bucket: RateLimiter, limit: int, target: str | None = None
    ) -> tuple[Caller, Any]:
        """The caller and the decoded JSON body of a mutation, or its audited refusal: the plugin off (404), the
        rate bucket (429; counted before the token is checked, so guessing tokens is limited too), the token or
        role, a body that is not JSON (the first bytes audited as ``unparsed``)."""
        self.gate()
        caller, error = self.identify(role, what)
        payload: Any = None
        try:
            settings = self.services.settings
            bucket.hit(caller.ip, limit=limit, max_keys=settings.rate_limit_max_ips)
            if error is not None:
                raise error
            raw = body_bytes()
            try:
                payload = parse_json(raw)
            except SparkError:
                payload = {"unparsed": raw[:256].decode("utf-8", "replace")}
                raise
        except SparkError as exc:
            await self.refuse(action, caller, target, payload, exc)
        return caller, payload

    async def admit_target(self, action: str, role: str, what: str, target: str, check: Callable[[str], Any]) -> Caller:
        """The caller of a bodiless mutation on ``target`` (checked by ``check``), or its audited refusal; an
        oversized body is still refused, never left unread."""
        self.gate()
        caller, error = self.identify(role, what)
        try:
            if error is not None:
                raise error
            body_bytes()
            check(target)
        except SparkError as exc:
            await self.refuse(action, caller, None, {"id": target[:64]}, exc)
        return caller
