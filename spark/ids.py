"""Run ids: ``bt-<start time in epoch ms, 13 digits>-<8 random hex digits>``, for CLI and service runs alike.

Every id that arrives from outside is checked with `check_run_id` before it is used to build a path, so an id can
never name a file outside the evidence folder.
"""

from __future__ import annotations

import re
import secrets
import time

from spark.errors import InputError

__all__ = [
    "RUN_ID",
    "SESSION_ID",
    "check_run_id",
    "check_session_id",
    "id_time_ms",
    "is_run_id",
    "new_run_id",
    "new_session_id",
    "wall_ms",
]

RUN_ID = re.compile(r"^bt-[0-9]{13}-[0-9a-f]{8}$")


def wall_ms() -> int:
    """Wall-clock epoch milliseconds: the clock of ids and recorded timestamps, nothing else."""
    return time.time_ns() // 1_000_000


def new_run_id(now_ms: int) -> str:
    """A fresh id for a run started at ``now_ms`` (epoch milliseconds, 13 digits until the year 2286)."""
    if not 10**12 <= now_ms < 10**13:
        raise ValueError(f"now_ms must be epoch milliseconds with 13 digits, got {now_ms}")
    return f"bt-{now_ms}-{secrets.token_hex(4)}"


def is_run_id(value: object) -> bool:
    return isinstance(value, str) and RUN_ID.fullmatch(value) is not None


def check_run_id(value: object) -> str:
    """``value`` if it is a well-formed run id; InputError (400, field ``id``) otherwise."""
    if not is_run_id(value):
        raise InputError(f"not a run id: {str(value)[:40]!r} (expected bt-<13 digits>-<8 hex>)", field="id")
    return value  # type: ignore[return-value]


def id_time_ms(run_id: str) -> int:
    """The start time (epoch ms) a well-formed run id carries."""
    return int(check_run_id(run_id)[3:16])


# Live sessions (paper trading): ``lv-<start time in epoch ms>-<8 random hex digits>``, checked the same way.
SESSION_ID = re.compile(r"^lv-[0-9]{13}-[0-9a-f]{8}$")


def new_session_id(now_ms: int) -> str:
    """A fresh live-session id for a session started at ``now_ms`` (epoch milliseconds)."""
    if not 10**12 <= now_ms < 10**13:
        raise ValueError(f"now_ms must be epoch milliseconds with 13 digits, got {now_ms}")
    return f"lv-{now_ms}-{secrets.token_hex(4)}"


def check_session_id(value: object) -> str:
    """``value`` if it is a well-formed live-session id; InputError (400, field ``id``) otherwise."""
    if not isinstance(value, str) or SESSION_ID.fullmatch(value) is None:
        raise InputError(f"not a live session id: {str(value)[:40]!r} (expected lv-<13 digits>-<8 hex>)", field="id")
    return value
