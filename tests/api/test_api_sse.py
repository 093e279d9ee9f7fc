"""The SSE stream against a real Hypercorn server (the quart-trio test client hangs on endless streams)."""

from __future__ import annotations

import itertools
import socket
from typing import Any

import httpx
import pytest
import trio
from apikit import admin, served, sse_events, wait_until

from spark.api import create_app
from spark.system import open_system

STREAM = "/api/backtest/stream"


async def collect(
    client: httpx.AsyncClient, count: int, headers: dict[str, str] | None = None
) -> list[tuple[int, str, dict[str, Any]]]:
    got: list[tuple[int, str, dict[str, Any]]] = []
    with trio.fail_after(10):
        async with client.stream("GET", STREAM, headers=headers or {}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for item in sse_events(response):
                got.append(item)
                if len(got) >= count:
                    break
    return got


async def test_snapshot_first_then_runs_in_id_order_and_resume(make_settings: Any) -> None:
    async with open_system(make_settings()) as system:
        app = create_app(system)
        async with served(app) as url, httpx.AsyncClient(base_url=url) as client:
            started = (await client.post("/api/backtest/start", json={"notes": "before"}, headers=admin())).json()

            async def watch(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                nonlocal events
                async with client.stream("GET", STREAM) as response:
                    task_status.started()
                    async for item in sse_events(response):
                        events.append(item)
                        _, kind, data = item
                        if kind == "run" and data["id"] == started["id"] and data["status"] == "failed":
                            return

            events: list[tuple[int, str, dict[str, Any]]] = []
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    await nursery.start(watch)
                    second = (await client.post("/api/backtest/start", json={"notes": "after"}, headers=admin())).json()
                    assert (await client.delete(f"/api/backtest/cancel/{second['id']}", headers=admin())).is_success
                    assert (await client.delete(f"/api/backtest/cancel/{started['id']}", headers=admin())).is_success
            _, kind, snapshot = events[0]
            assert kind == "snapshot" and started["id"] in {r["id"] for r in snapshot["runs"]}
            assert isinstance(snapshot["serverTime"], int)
            ids = [i for i, _, _ in events]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            runs = [(d["id"], d["status"]) for _, k, d in events[1:] if k == "run"]
            assert (second["id"], "queued") in runs and (second["id"], "failed") in runs
            assert all(k == "run" for _, k, _ in events[1:])
            assert [i for i, _, _ in events[1:]] == list(range(events[1][0], events[1][0] + len(events) - 1))

            # resume: after the second event, the stream replays what followed, with no snapshot
            resume_after = events[1][0]
            replay = await collect(client, 2, {"Last-Event-ID": str(resume_after)})
            assert [i for i, _, _ in replay] == [resume_after + 1, resume_after + 2]
            assert all(kind == "run" for _, kind, _ in replay)
            # garbage or ancient ids: a fresh stream starting with a snapshot, never an error
            for garbage in ("abc", "-5", "1e9", "99999999999999999999999", "", "0"):
                fresh = await collect(client, 1, {"Last-Event-ID": garbage})
                assert fresh[0][1] == "snapshot", garbage


async def test_retry_hint_heartbeat_and_streams_outlive_the_response_timeout(make_settings: Any) -> None:
    async with open_system(make_settings(heartbeat_s=0.2, sse_retry_ms=1234)) as system:
        app = create_app(system)
        app.config["RESPONSE_TIMEOUT"] = 0.5  # a stream must ignore it
        async with served(app) as url, httpx.AsyncClient(base_url=url) as client:
            lines: list[str] = []
            with trio.fail_after(10):
                async with client.stream("GET", STREAM) as response:
                    start = trio.current_time()
                    async for line in response.aiter_lines():
                        lines.append(line)
                        if trio.current_time() - start > 1.5 and line == ": heartbeat":
                            break
            assert lines[0] == "retry: 1234"
            assert lines[2] == "event: snapshot"
            assert lines.count(": heartbeat") >= 4
            assert sum(line.startswith("retry:") for line in lines) == 1


async def test_client_cap_is_503_with_retry_after(make_settings: Any) -> None:
    async with (
        open_system(make_settings(sse_max_clients=2)) as system,
        served(create_app(system)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        async with client.stream("GET", STREAM) as one, client.stream("GET", STREAM) as two:
            assert one.status_code == two.status_code == 200
            await wait_until(lambda: system.metrics.value("backtest_stream_clients") == 2)
            third = await client.get(STREAM)
            assert third.status_code == 503
            assert int(third.headers["Retry-After"]) >= 1
            assert third.json()["error"] == "unavailable"
        await wait_until(lambda: system.metrics.value("backtest_stream_clients") == 0)  # leaving frees them
        assert (await collect(client, 1))[0][1] == "snapshot"


@pytest.mark.slow
async def test_a_stalled_client_is_cut_off_while_a_fast_one_keeps_up(make_settings: Any) -> None:
    """A client that stops reading fills its socket, then its small channel: it is coalesced (never a backlog) and
    finally disconnected (the stall timeout); meanwhile another client keeps up: every change, in order."""
    settings = make_settings(mock_delay_s=0.3, rate_limit_per_minute=100_000, queue_size=1000, max_concurrent=2)
    total = 30
    async with (
        open_system(settings) as system,
        served(create_app(system), stall_timeout_s=2.0) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        host, port = url.removeprefix("http://").split(":")
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stalled.connect((host, int(port)))
        stalled.sendall(f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        events: list[tuple[int, str, dict[str, Any]]] = []
        all_done = trio.Event()

        state: dict[str, str] = {}  # notes -> status, as this client sees it
        expected = {f"n{i}" for i in range(total - 1)} | {"last"}

        async def fast(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            async with client.stream("GET", STREAM) as response:
                task_status.started()
                async for item in sse_events(response):
                    events.append(item)
                    _, kind, data = item
                    if kind == "snapshot":
                        state.clear()
                        state.update({r["notes"]: r["status"] for r in data["runs"]})
                    else:
                        state[data["notes"]] = data["status"]
                    if all(state.get(notes) == "done" for notes in expected):
                        all_done.set()

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(fast)
                for i in range(total):
                    body = {"notes": "last" if i == total - 1 else f"n{i}"}
                    assert (await client.post("/api/backtest/start", json=body, headers=admin())).status_code == 201
                    await trio.sleep(0.02)
                await all_done.wait()
                # the stalled client is let go; the fast one is still there
                await wait_until(lambda: system.metrics.value("backtest_stream_clients") == 1, 30)
                nursery.cancel_scope.cancel()
        # the fast client saw every change in order: consecutive ids, except where the broadcaster replaced a
        # backlog by a snapshot (it may, when even this client is briefly behind on a loaded machine)
        kinds = [kind for _, kind, _ in events]
        assert kinds[0] == "snapshot" and kinds.count("snapshot") <= 3
        for (before, _, _), (after, kind, _) in itertools.pairwise(events):
            assert after > before and (after == before + 1 or kind == "snapshot")
        assert sum(kind == "run" for kind in kinds) >= total * 3  # queued, running, done at least
        assert {notes for notes, status in state.items() if status == "done"} == expected
        received = b""
        stalled.setblocking(False)
        try:
            while chunk := stalled.recv(1 << 20):
                received += chunk
        except (BlockingIOError, ConnectionError):
            pass
        stalled.close()
        assert received.count(b"event: run") < kinds.count("run") // 2  # it got a fraction, then was cut off
