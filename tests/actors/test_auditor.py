"""The auditor on real files: one JSON line per entry, fsynced before the answer, torn lines repaired, failures
answered with Unavailable."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from spark.actors import auditor
from spark.actors.messages import AuditLine, Reply
from spark.errors import Unavailable

T0 = datetime(2025, 10, 8, 23, 59, 59, 250_000, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


async def audit(send: trio.MemorySendChannel, **entry) -> None:
    reply: Reply[None] = Reply()
    await send.send(AuditLine(entry=entry, reply=reply))
    await reply.wait()


def entry(n: int, **extra) -> dict:
    return {
        "action": "start",
        "ip": "127.0.0.1",
        "user": "admin",
        "id": f"bt-{n}",
        "payload": {"pair": "ETHUSDT"},
        "success": True,
        **extra,
    }


async def run_auditor(nursery: trio.Nursery, folder: Path, clock: Clock, secret: str = "") -> trio.MemorySendChannel:
    send, inbox = trio.open_memory_channel(64)
    await nursery.start(
        lambda task_status: auditor.run(
            inbox=inbox, folder=folder, secret=lambda: secret, clock=clock, task_status=task_status
        )
    )
    return send


async def test_one_compact_line_per_entry_per_utc_day(tmp_path):
    folder = tmp_path / "logs" / "audit"
    clock = Clock(T0)
    async with trio.open_nursery() as nursery:
        send = await run_auditor(nursery, folder, clock)
        async with send:
            await audit(send, **entry(1))
            clock.now = T0 + timedelta(seconds=1)  # the next UTC day
            await audit(send, **entry(2, success=False, error="unauthorized"))
    first = (folder / "backtest_20251008.log").read_bytes()
    assert first == (
        b'{"timestamp":"2025-10-08T23:59:59.250Z","action":"start","ip":"127.0.0.1","user":"admin",'
        b'"id":"bt-1","payload":{"pair":"ETHUSDT"},"success":true}\n'
    )
    second = (folder / "backtest_20251009.log").read_text().splitlines()
    assert [json.loads(line) for line in second] == [
        {"timestamp": "2025-10-09T00:00:00.250Z", **entry(2), "success": False, "error": "unauthorized"}
    ]


async def test_concurrent_callers_all_get_their_line(tmp_path):
    folder = tmp_path / "audit"
    async with trio.open_nursery() as nursery:
        send = await run_auditor(nursery, folder, Clock(T0))
        async with send, trio.open_nursery() as callers:
            for n in range(50):
                callers.start_soon(lambda n=n: audit(send, **entry(n)))
    lines = (folder / "backtest_20251008.log").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(f"bt-{n}" for n in range(50))


async def test_the_token_is_never_written(tmp_path):
    folder = tmp_path / "audit"
    async with trio.open_nursery() as nursery:
        send = await run_auditor(nursery, folder, Clock(T0), secret="s3cret-token")
        async with send:
            await audit(send, **entry(1, payload={"notes": "my token is s3cret-token"}))
    text = (folder / "backtest_20251008.log").read_text()
    assert "s3cret-token" not in text and "[redacted]" in text


def test_a_short_token_is_scrubbed_from_values_without_breaking_the_line():
    line = auditor.audit_line(
        {
            "timestamp": "2025-10-08T00:00:00.000Z",
            "action": "start",
            "ip": "10.0.0.1",
            "user": "admin",
            "id": None,
            "payload": {"notes": "a test", "t": ["t"]},
            "success": True,
        },
        secret="t",
    )
    assert json.loads(line) == {
        "timestamp": "2025-10-08T00:00:00.000Z",
        "action": "start",
        "ip": "10.0.0.1",
        "user": "admin",
        "id": None,
        "payload": {"no[redacted]es": "a [redacted]es[redacted]", "[redacted]": ["[redacted]"]},
        "success": True,
    }


def test_a_payload_too_deep_to_serialise_is_noted_not_fatal():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    line = json.loads(auditor.audit_line({"timestamp": "x", "action": "start", "payload": deep, "success": False}))
    assert line["payload"] == "[payload not loggable: RecursionError]" and line["success"] is False


def test_repair_cuts_a_torn_last_line_only(tmp_path):
    whole = tmp_path / "backtest_20251008.log"
    whole.write_bytes(b'{"a":1}\n{"b":2}\n')
    torn = tmp_path / "backtest_20251009.log"
    torn.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    no_newline = tmp_path / "backtest_20251010.log"
    no_newline.write_bytes(b'{"c":')
    assert auditor.repair(tmp_path) == [torn, no_newline]
    assert whole.read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert torn.read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert no_newline.read_bytes() == b""


async def test_torn_line_repaired_at_start_then_appended(tmp_path):
    folder = tmp_path / "audit"
    folder.mkdir()
    (folder / "backtest_20251008.log").write_bytes(b'{"old":1}\n{"torn":')
    async with trio.open_nursery() as nursery:
        send = await run_auditor(nursery, folder, Clock(T0))
        async with send:
            await audit(send, **entry(1))
    lines = (folder / "backtest_20251008.log").read_text().splitlines()
    assert json.loads(lines[0]) == {"old": 1} and json.loads(lines[1])["id"] == "bt-1" and len(lines) == 2


async def test_an_unwritable_audit_folder_answers_unavailable(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "audit").write_text("a file where the folder should be")
    async with trio.open_nursery() as nursery:
        send = await run_auditor(nursery, logs / "audit", Clock(T0))
        async with send:
            with pytest.raises(Unavailable) as caught:
                await audit(send, **entry(1))
            assert caught.value.status == 503 and caught.value.retry_after >= 1
            # fixed by the operator: the next line goes through
            (logs / "audit").unlink()
            await audit(send, **entry(2))
    assert json.loads((logs / "audit" / "backtest_20251008.log").read_text())["id"] == "bt-2"


async def test_a_folder_replaced_while_open_is_noticed(tmp_path):
    folder = tmp_path / "audit"
    async with trio.open_nursery() as nursery:
        send = await run_auditor(nursery, folder, Clock(T0))
        async with send:
            await audit(send, **entry(1))
            os.rename(folder, tmp_path / "moved")
            folder.write_text("not a folder")
            with pytest.raises(Unavailable):
                await audit(send, **entry(2))
    assert (tmp_path / "moved" / "backtest_20251008.log").read_text().count("\n") == 1
