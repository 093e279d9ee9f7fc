"""The broadcaster: fans run changes out to SSE clients, each through its own small bounded channel.

Every change becomes a ``run`` event with a global, increasing id, kept in a ring of the last ``ring_size`` events
for ``Last-Event-ID`` replay; a client whose id is unknown or older than the ring starts with a ``snapshot`` (the
newest runs and the total; older ones are paged over HTTP) instead. Delivery never waits: a client whose channel
is full has its backlog dropped and gets one fresh snapshot (coalesced) when it reads again; a client that
overflows again and again (``MAX_OVERFLOWS`` within ``OVERFLOW_WINDOW_S``) is dropped and counted. So a slow
client slows neither the scheduler nor other clients. Over ``sse_max_clients`` a subscription fails with
Unavailable. When its inbox closes, every client stream ends.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from spark.actors.messages import ChangeChanged, LiveChanged, RunChanged, RunDeleted, Subscribe, Unsubscribe
from spark.errors import Unavailable
from spark.ids import wall_ms
from spark.metrics import Metrics
from spark.plugin.services import StreamEvent

__all__ = ["CLIENTS_FULL_RETRY_S", "CLIENT_BUFFER", "MAX_OVERFLOWS", "OVERFLOW_WINDOW_S", "ClientStream", "run"]

CLIENT_BUFFER = 64  # events waiting for one client before it counts as behind (a burst of a few runs)
MAX_OVERFLOWS = 5  # overflows within the window after which a client is dropped
OVERFLOW_WINDOW_S = 60.0
CLIENTS_FULL_RETRY_S = 5  # Retry-After over the client cap


class _Hub:
    """State shared by the actor and its client streams (all on the one Trio thread)."""

    def __init__(
        self,
        *,
        snapshot: Callable[[], dict[str, Any]],
        ring_size: int,
        first_id: int,
        now_ms: Callable[[], int],
    ) -> None:
        self.snapshot_data, self.now_ms = snapshot, now_ms
        self.last_id = first_id - 1
        self.ring: deque[StreamEvent] = deque(maxlen=ring_size)
        self._snapshot: StreamEvent | None = None

    def snapshot(self) -> StreamEvent:
        """The newest runs and the total as of the last event id; built once per id and shared by every client
        that needs it."""
        if self._snapshot is None or self._snapshot.id != self.last_id:
            self._snapshot = StreamEvent(
                id=self.last_id, kind="snapshot", data={**self.snapshot_data(), "serverTime": self.now_ms()}
            )
        return self._snapshot

    def replay(self, last_event_id: int | None) -> list[StreamEvent] | None:
        """The events after ``last_event_id``, or None when the ring cannot say (unknown, too old, none given)."""
        if last_event_id is None or last_event_id > self.last_id:
            return None
        if last_event_id == self.last_id:
            return []
        if not self.ring or self.ring[0].id > last_event_id + 1:
            return None
        return [event for event in self.ring if event.id > last_event_id]


class ClientStream:
    """One client's view (a `spark.plugin.services.Subscription`): replayed events, then live ones in id order; after an
    overflow, the buffered backlog is dropped and a fresh snapshot comes instead. Ends when the client is dropped or
    the broadcaster closes."""

    def __init__(
        self, client_id: int, hub: _Hub, receive: trio.MemoryReceiveChannel, pending: list[StreamEvent] | None
    ) -> None:
        self.client_id = client_id
        self._hub = hub
        self._receive = receive
        self._pending = deque(pending or ())
        self.needs_snapshot = pending is None
        self.dropped = False
        self.overflows: deque[float] = deque()

    def __aiter__(self) -> ClientStream:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._pending:
            return self._pending.popleft()
        if self.needs_snapshot and not self.dropped:
            while True:  # drop the backlog: the snapshot covers it
                try:
                    self._receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
            self.needs_snapshot = False
            return self._hub.snapshot()
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._receive.close()


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    snapshot: Callable[[], dict[str, Any]],
    ring_size: int,
    max_clients: Callable[[], int],
    metrics: Metrics,
    first_id: int = 1,
    now_ms: Callable[[], int] = wall_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` (RunChanged, Subscribe, Unsubscribe) until it closes. ``snapshot`` gives the snapshot's
    data (``{"runs": [newest...], "total"}``); ``first_id`` is the id of the first event (the system uses start-up
    wall-clock ms, so ids keep increasing across restarts and an old ``Last-Event-ID`` is never mistaken for a new
    one)."""
    hub = _Hub(snapshot=snapshot, ring_size=ring_size, first_id=first_id, now_ms=now_ms)
    clients: dict[int, tuple[ClientStream, trio.MemorySendChannel]] = {}
    ids = itertools.count(1)

    def forget(client_id: int) -> None:
        entry = clients.pop(client_id, None)
        if entry is not None:
            entry[1].close()
        metrics.stream_clients.set(len(clients))

    async with inbox:
        task_status.started()
        try:
            async for message in inbox:
                if isinstance(message, RunChanged | RunDeleted | ChangeChanged | LiveChanged):
                    hub.last_id += 1
                    if isinstance(message, RunChanged):
                        data, kind = message.record.to_wire(), "run"
                    elif isinstance(message, ChangeChanged):
                        data, kind = message.request, "change"
                    elif isinstance(message, LiveChanged):
                        data, kind = message.event, "live"
                    else:
                        data, kind = {"id": message.run_id}, "deleted"
                    event = StreamEvent(id=hub.last_id, kind=kind, data={**data, "serverTime": now_ms()})
                    hub.ring.append(event)
                    for client_id, (stream, send) in list(clients.items()):
                        verdict = _deliver(stream, send, event)
                        if verdict != "ok":
                            if verdict == "dropped":
                                metrics.stream_dropped.inc()
                            forget(client_id)
                elif isinstance(message, Subscribe):
                    if len(clients) >= max_clients():
                        message.reply.fail(
                            Unavailable("too many stream clients, try again later", retry_after=CLIENTS_FULL_RETRY_S)
                        )
                        continue
                    send, receive = trio.open_memory_channel[StreamEvent](CLIENT_BUFFER)
                    stream = ClientStream(next(ids), hub, receive, hub.replay(message.last_event_id))
                    clients[stream.client_id] = (stream, send)
                    metrics.stream_clients.set(len(clients))
                    message.reply.set(stream)
                elif isinstance(message, Unsubscribe):
                    forget(message.client_id)
                else:  # pragma: no cover - a programming error, loud on purpose
                    raise TypeError(f"broadcaster: unexpected message {message!r}")
        finally:
            for client_id in list(clients):
                forget(client_id)


def _deliver(stream: ClientStream, send: trio.MemorySendChannel, event: StreamEvent) -> str:
    """Hand ``event`` to one client without waiting: "ok", "gone" (the client left) or "dropped" (too slow)."""
    try:
        send.send_nowait(event)
        return "ok"
    except trio.WouldBlock:
        pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return "gone"
    if stream.needs_snapshot:
        return "ok"  # already behind: the coming snapshot covers this event too
    now = trio.current_time()
    stream.overflows.append(now)
    while stream.overflows and stream.overflows[0] < now - OVERFLOW_WINDOW_S:
        stream.overflows.popleft()
    if len(stream.overflows) >= MAX_OVERFLOWS:
        stream.dropped = True
        return "dropped"
    stream.needs_snapshot = True
    return "ok"
