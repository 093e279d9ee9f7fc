"""Retention: ended runs older than ``retention_days`` (a Setting, off at 0) are deleted, every
``retention_check_s`` (the first look a minute after start-up, or sooner when the check is more often).

Not an actor with an inbox: a periodic task that asks the system to delete each run, so every delete is decided by
the scheduler and audited like any other, with the user "retention". It reads the settings at each look (reloads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from spark.config import Settings
from spark.errors import SparkError
from spark.plugin.services import Caller
from spark.service.record import RunRecord

__all__ = ["FIRST_LOOK_S", "RETENTION", "run"]

log = logging.getLogger(__name__)

FIRST_LOOK_S = 60.0
RETENTION = Caller(ip="local", user="retention")  # who the audit names for retention's deletes


async def run(
    settings: Callable[[], Settings],
    records: Callable[[], list[RunRecord]],
    delete: Callable[[str], Awaitable[Any]],
    now_ms: Callable[[], int],
) -> None:
    """Look, delete what is too old, sleep; until cancelled (the system's shutdown)."""
    await trio.sleep(min(FIRST_LOOK_S, settings().retention_check_s))
    while True:
        days = settings().retention_days
        if days > 0:
            cutoff = now_ms() - int(days * 86_400_000)
            old = [r.id for r in records() if r.terminal and r.started_at < cutoff]
            deleted = 0
            for run_id in old:
                with contextlib.suppress(SparkError):  # started meanwhile, gone, or the service is stopping
                    await delete(run_id)
                    deleted += 1
            if old:
                log.info("retention: %d of %d run(s) older than %g days deleted", deleted, len(old), days)
        await trio.sleep(settings().retention_check_s)
