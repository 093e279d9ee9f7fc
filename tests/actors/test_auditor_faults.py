"""The auditor under real write faults: a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored so writes fail with a short
count or EFBIG instead of killing the process) cuts lines short in a child process; the file must keep only whole
lines, and only those of callers that were told their line was written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from spark.actors.auditor import audit_line

# Runs in a child process: the limit applies to a whole process, and pytest's own files must not hit it.
CHILD = r"""
import json, resource, signal, sys
from datetime import UTC, datetime
from pathlib import Path

import trio

from spark.actors import auditor
from spark.actors.messages import AuditLine, Reply
from spark.errors import Unavailable

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
folder = Path(sys.argv[1])
path = folder / "backtest_20251008.log"
_, HARD = resource.getrlimit(resource.RLIMIT_FSIZE)
NOW = datetime(2025, 10, 8, 12, 0, tzinfo=UTC)


def entry(n):
    return {"action": "start", "ip": "127.0.0.1", "user": "admin", "id": f"bt-{n}",
            "payload": {"notes": "n" * 150}, "success": True}


def limit(extra):
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + extra, HARD))


async def main():
    send, inbox = trio.open_memory_channel(8)
    verdicts = []

    async def line(n, task_status=trio.TASK_STATUS_IGNORED):
        reply = Reply()
        send.send_nowait(AuditLine(entry=entry(n), reply=reply))
        task_status.started()
        try:
            await reply.wait()
            verdicts.append((n, "ok"))
        except Unavailable as exc:
            verdicts.append((n, exc.status))

    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: auditor.run(inbox=inbox, folder=folder, clock=lambda: NOW,
                                                            task_status=task_status))
        await line(1)
        limit(40)            # the next line is cut after 40 bytes: a short write
        await line(2)
        limit(0)             # nothing fits: EFBIG
        await line(3)
        limit(250)           # one batch of two lines: the first fits, the second is cut short
        async with trio.open_nursery() as both:
            await both.start(line, 4)
            await both.start(line, 5)
        resource.setrlimit(resource.RLIMIT_FSIZE, (HARD, HARD))
        await line(6)
        await send.aclose()
    print(json.dumps(verdicts))


trio.run(main)
"""


def test_a_cut_short_or_failed_write_leaves_only_whole_acknowledged_lines(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert child.returncode == 0, child.stderr
    verdicts = dict(json.loads(child.stdout))
    assert verdicts == {1: "ok", 2: 503, 3: 503, 4: 503, 5: 503, 6: "ok"}
    data = (folder / "backtest_20251008.log").read_bytes()
    assert data.endswith(b"\n")
    lines = [json.loads(line) for line in data.decode("utf-8").splitlines()]  # every line whole, valid JSON
    assert [line["id"] for line in lines] == ["bt-1", "bt-6"]  # refused callers left no line, whole or torn
    assert "cut back" in child.stderr


def test_unencodable_text_is_written_escaped_as_one_valid_line() -> None:
    entry = {"action": "start", "id": None, "payload": {"notes": "a\ud800b", "\udfff": ["é", "\U0001f600"]}}
    text = audit_line(entry)
    assert "\n" not in text
    text.encode("utf-8")  # valid UTF-8: no lone surrogate left anywhere
    assert json.loads(text)["payload"] == {"notes": "a\\ud800b", "\\udfff": ["é", "\U0001f600"]}
    plain = {"action": "cancel", "payload": {"notes": "é \U0001f600"}}
    assert audit_line(plain) == json.dumps(plain, separators=(",", ":"))  # other lines keep their form
