"""What every route of the ``write`` plugin does before it acts: refuse while the plugin is switched off (404),
find who asks and whether their role may (`spark.api.auth`), and audit a refusal before it is answered."""

from __future__ import annotations

from typing import Any

from spark.api.auth import authenticate, require
from spark.api.wire import body_bytes, client_ip
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
