"""The broadcaster under autojump_clock: id order, ring replay, snapshots, slow clients coalesced or dropped, cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from spark.actors import broadcaster
from spark.actors.messages import Reply, RunChanged, Subscribe, Unsubscribe
from spark.errors import Unavailable
from spark.metrics import Metrics


class Record(dict):
    """Stands in for a RunRecord: the broadcaster only asks a record for its wire form."""

    def to_wire(self) -> dict:
        return dict(self)


class Hub:
    def __init__(self, send: trio.MemorySendChannel, runs: dict[str, dict], metrics: Metrics) -> None:
        self.send, self.runs, self.metrics = send, runs, metrics

    async def change(self, run_id: str, status: str) -> None:
        record = {"id": run_id, "status": status}
        self.runs[run_id] = record
        await self.send.send(RunChanged(record=Record(record)))

    @asynccontextmanager
    async def subscribe(self, last_event_id: int | None = None) -> AsyncIterator[broadcaster.ClientStream]:
        reply: Reply[Any] = Reply()
        await self.send.send(Subscribe(last_event_id=last_event_id, reply=reply))
        stream = await reply.wait()
        try:
            yield stream
        finally:
            stream.close()
            await self.send.send(Unsubscribe(client_id=stream.client_id))


@asynccontextmanager
async def running(ring_size: int = 1000, max_clients: int = 10) -> AsyncIterator[Hub]:
    send, inbox = trio.open_memory_channel(64)
    runs: dict[str, dict] = {}
    metrics = Metrics()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: broadcaster.run(
                inbox=inbox,
                snapshot=lambda: {"runs": list(reversed(runs.values())), "total": len(runs)},
                ring_size=ring_size,
                max_clients=lambda: max_clients,
                metrics=metrics,
                first_id=1,
                now_ms=lambda: 42,
                task_status=task_status,
            )
        )
        async with send:
            yield Hub(send, runs, metrics)


async def take(stream: broadcaster.ClientStream, n: int) -> list[tuple[int, str, Any]]:
    out = []
    async for event in stream:
        out.append((event.id, event.kind, event.data["runs"] if event.kind == "snapshot" else event.data["status"]))
        if len(out) == n:
            break
    return out


async def test_snapshot_first_then_changes_in_id_order(autojump_clock):
    async with running() as hub:
        await hub.change("a", "queued")
        async with hub.subscribe() as stream:
            first = await take(stream, 1)
            await hub.change("a", "running")
            await hub.change("b", "queued")
            got = first + await take(stream, 2)
            await hub.change("c", "queued")
        async with hub.subscribe() as late:  # the snapshot is taken when read: it covers what came before
            await hub.change("c", "running")
            await trio.sleep(0.1)
            assert await take(late, 1) == [
                (
                    5,
                    "snapshot",
                    [
                        {"id": "c", "status": "running"},
                        {"id": "b", "status": "queued"},
                        {"id": "a", "status": "running"},
                    ],
                )
            ]
    assert got == [(1, "snapshot", [{"id": "a", "status": "queued"}]), (2, "run", "running"), (3, "run", "queued")]


async def test_run_events_carry_the_record_and_server_time(autojump_clock):
    async with running() as hub, hub.subscribe(0) as stream:
        await hub.change("a", "queued")
        event = await stream.__anext__()
    assert (event.id, event.kind, event.data) == (1, "run", {"id": "a", "status": "queued", "serverTime": 42})


async def test_last_event_id_replays_from_the_ring(autojump_clock):
    async with running(ring_size=3) as hub:
        for status in ("s1", "s2", "s3", "s4", "s5"):
            await hub.change("a", status)
        async with hub.subscribe(3) as stream:  # 4 and 5 are in the ring
            await hub.change("a", "s6")
            assert await take(stream, 3) == [(4, "run", "s4"), (5, "run", "s5"), (6, "run", "s6")]
        async with hub.subscribe(6) as stream:  # up to date: only what comes next
            await hub.change("a", "s7")
            assert await take(stream, 1) == [(7, "run", "s7")]


@pytest.mark.parametrize("last_event_id", [None, 1, 999])
async def test_an_old_or_unknown_id_gets_a_snapshot(autojump_clock, last_event_id):
    async with running(ring_size=3) as hub:
        for status in ("s1", "s2", "s3", "s4", "s5"):  # the ring holds 3..5: id 1 is too old
            await hub.change("a", status)
        async with hub.subscribe(last_event_id) as stream:
            assert await take(stream, 1) == [(5, "snapshot", [{"id": "a", "status": "s5"}])]


async def test_a_slow_client_is_coalesced_while_a_fast_one_keeps_up(autojump_clock):
    total = broadcaster.CLIENT_BUFFER + 24  # more than the slow client's channel holds
    async with running() as hub, hub.subscribe(0) as fast, hub.subscribe(0) as slow:
        fast_got: list[int] = []

        async def read_fast() -> None:
            async for event in fast:
                fast_got.append(event.id)
                if event.id == total:
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_fast)
            for n in range(total):
                await hub.change(f"r{n}", "queued")
                await trio.sleep(0.01)
        assert fast_got == list(range(1, total + 1))  # every event, in order
        got = await take(slow, 1)  # behind: the backlog is gone, one snapshot of everything instead
        assert got[0][:2] == (total, "snapshot") and len(got[0][2]) == total
        await hub.change("r0", "running")
        assert await take(slow, 1) == [(total + 1, "run", "running")]
        assert hub.metrics.value("backtest_stream_dropped_total") == 0


async def test_a_client_that_keeps_overflowing_is_dropped_and_counted(autojump_clock):
    async with running() as hub, hub.subscribe(0) as slow:
        for _ in range(broadcaster.MAX_OVERFLOWS):
            for n in range(broadcaster.CLIENT_BUFFER + 1):
                await hub.change(f"r{n}", "queued")
            await trio.sleep(1)
            got = await take(slow, 1)  # drains the backlog, snapshot
            if got and got[0][1] != "snapshot":
                break
        async for _ in slow:
            pass  # the stream ends
        assert slow.dropped
        assert hub.metrics.value("backtest_stream_dropped_total") == 1
        assert hub.metrics.value("backtest_stream_clients") == 0


async def test_the_client_cap_answers_unavailable(autojump_clock):
    async with running(max_clients=2) as hub, hub.subscribe() as a, hub.subscribe() as b:
        assert hub.metrics.value("backtest_stream_clients") == 2
        with pytest.raises(Unavailable) as caught:
            async with hub.subscribe():
                pass
        assert caught.value.retry_after >= 1
        assert (a.client_id, b.client_id) == (1, 2)
    async with running(max_clients=1) as hub:
        async with hub.subscribe():
            pass
        await trio.sleep(0.1)
        assert hub.metrics.value("backtest_stream_clients") == 0
        async with hub.subscribe():  # the slot was given back
            pass


async def test_streams_end_when_the_broadcaster_closes(autojump_clock):
    send, inbox = trio.open_memory_channel(8)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: broadcaster.run(
                inbox=inbox,
                snapshot=lambda: {"runs": [], "total": 0},
                ring_size=10,
                max_clients=lambda: 5,
                metrics=Metrics(),
                task_status=task_status,
            )
        )
        reply: Reply[Any] = Reply()
        await send.send(Subscribe(last_event_id=None, reply=reply))
        stream = await reply.wait()
        await send.aclose()
        events = [event.kind async for event in stream]
    assert events == ["snapshot"]
