"""Helpers of the sweep service tests: SSE events (the server, polling and the audit log: `serverkit`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from httpx_sse import EventSource

__all__ = ["sse_events"]


async def sse_events(response: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event, data) of each real event of an SSE answer (comments and retry-only frames skipped)."""
    async for event in EventSource(response).aiter_sse():
        if event.data:
            yield event.event, json.loads(event.data)
