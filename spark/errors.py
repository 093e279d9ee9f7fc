"""Spark's one exception hierarchy; each error knows its HTTP status and wire code.

    SparkError (500, "internal")
    ├── InputError (400, "invalid")            bad input from a user: names the field when it can
    │   ├── DataError (400, "bad_data")        candles or a data file that cannot be used
    │   ├── ParamError (400, "bad_param")      a strategy/feed parameter or run option out of contract
    │   └── UnknownPlugin (400, "unknown")     no strategy or feed of that name
    ├── AuthError (401, "unauthorized")        missing or wrong admin token
    ├── Forbidden (403, "forbidden")           a credential from the wrong place (foreign-origin cookie)
    ├── NotFound (404, "not_found")
    ├── Conflict (409, "conflict")             e.g. cancelling a run that is done
    ├── PayloadTooLarge (413, "too_large")
    ├── StrategyError (422, "strategy_failed") strategy code raised or handed over an unusable intent; names it
    ├── RateLimited (429, "rate_limited")      carries retry_after seconds
    ├── Unavailable (503, "unavailable")       queue full, audit unwritable, client cap; carries retry_after
    ├── NotConfigured (500, "not_configured")  e.g. no ADMIN_TOKEN set
    └── PluginError (500, "plugin")            a plugin misbehaved; wraps the cause with the plugin's name

The engine raises only InputError and its children, and StrategyError; it knows nothing of HTTP, the status is a
plain number.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "Conflict",
    "DataError",
    "Forbidden",
    "InputError",
    "NotConfigured",
    "NotFound",
    "ParamError",
    "PayloadTooLarge",
    "PluginError",
    "RateLimited",
    "SparkError",
    "StrategyError",
    "Unavailable",
    "UnknownPlugin",
]


class SparkError(Exception):
    """Base of every error Spark raises on purpose."""

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, str | None]:
        """The wire form: ``{"error": code, "message": ..., "field": ...}``."""
        return {"error": self.code, "message": self.message, "field": self.field}


class InputError(SparkError, ValueError):
    status, code = 400, "invalid"


class DataError(InputError):
    status, code = 400, "bad_data"


class ParamError(InputError):
    status, code = 400, "bad_param"


class UnknownPlugin(InputError):
    status, code = 400, "unknown"


class AuthError(SparkError):
    status, code = 401, "unauthorized"


class Forbidden(SparkError):
    status, code = 403, "forbidden"


class NotFound(SparkError):
    status, code = 404, "not_found"


class Conflict(SparkError):
    status, code = 409, "conflict"


class PayloadTooLarge(SparkError):
    status, code = 413, "too_large"


class StrategyError(SparkError):
    """Strategy code failed (raised, or handed over an unusable intent); the message names the strategy."""

    status, code = 422, "strategy_failed"

    def __init__(self, strategy: str, cause: BaseException | str) -> None:
        text = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else cause
        super().__init__(f"strategy {strategy!r} failed: {text}")
        self.strategy = strategy
        if isinstance(cause, BaseException):
            self.__cause__ = cause


class _RetryLater(SparkError):
    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))


class RateLimited(_RetryLater):
    status, code = 429, "rate_limited"


class Unavailable(_RetryLater):
    status, code = 503, "unavailable"


class NotConfigured(SparkError):
    status, code = 500, "not_configured"


class PluginError(SparkError):
    status, code = 500, "plugin"

    def __init__(self, plugin: str, cause: BaseException) -> None:
        super().__init__(f"plugin {plugin!r} failed: {cause}")
        self.plugin = plugin
        self.__cause__ = cause
