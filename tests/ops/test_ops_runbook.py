"""ops/RUNBOOK.md, executed: every ```sh block, in document order, against a real `spark serve` process.

The test plays the incident around the blocks: a finished run and a failed (wrong-token) start before, evidence
files lost before the restore; after each step it checks the server's behaviour from outside: mutations 404 and
reads 200 once write is off (`spark reload`, same process), the verification only reading (no run started, no
mutation attempted), files back byte for byte, failed attempts in the audit review, mutations back once write is
on again. The blocks find the server through its pid file (`spark status`, `spark reload`): they get no pid.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opshelp import ADMIN_TOKEN, OPS, SparkServer, clean_env

pytestmark = pytest.mark.slow
RUNBOOK = OPS / "RUNBOOK.md"
AUTH = {"x-admin-token": ADMIN_TOKEN}


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    heading: str
    index: int  # position under its heading
    code: str


def runbook_blocks(text: str) -> list[Block]:
    """The ```sh blocks with the heading they sit under; other fences (```text, ...) are skipped whole."""
    blocks: list[Block] = []
    heading, fence, lines = "", None, []
    for line in text.splitlines():
        if fence is None:
            m = re.match(r"^(`{3,})(\S*)\s*$", line)
            if m:
                fence, lines = (m.group(1), m.group(2)), []
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
            continue
        if line.strip() == fence[0]:
            if fence[1] == "sh":
                count = sum(1 for b in blocks if b.heading == heading)
                blocks.append(Block(heading=heading, index=count, code="\n".join(lines) + "\n"))
            fence = None
        else:
            lines.append(line)
    assert fence is None, "unclosed code fence in RUNBOOK.md"
    return blocks


def test_runbook_parser_keeps_only_sh_blocks() -> None:
    text = "# A\n```sh\necho a\n```\n```text\n# not a heading\nrm -rf /\n```\n## B\n```sh\necho b\n```\n"
    assert runbook_blocks(text) == [
        Block(heading="A", index=0, code="echo a\n"),
        Block(heading="B", index=0, code="echo b\n"),
    ]


def _audit_lines(home: Path) -> list[str]:
    return [line for path in sorted((home / "logs" / "audit").glob("*.log")) for line in path.read_text().splitlines()]


def test_runbook_finds_the_server_through_its_pid_file_and_verifies_by_reading() -> None:
    text = RUNBOOK.read_text()
    for banned in ("pgrep", "kill -HUP", "SPARK_PID", "pidof"):
        assert banned not in text, f"the runbook finds the server through its pid file, not {banned}"
    (verify,) = [b for b in runbook_blocks(text) if b.heading.startswith("2. Verify")]
    for mutation in ("-X", "POST", "DELETE", "/start", "/cancel", "-d "):
        assert mutation not in verify.code, f"the verification only reads: {mutation!r} in it"
    assert "spark status" in verify.code


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SparkServer]:
    home = tmp_path / "spark"
    home.mkdir()
    running = SparkServer(home, SPARK_MOCK_DELAY_S="0.2")
    try:
        yield running
    finally:
        running.stop()


def _wait_done(http: httpx.Client, run_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if http.get(f"/api/backtest/{run_id}").json()["status"] in ("done", "failed"):
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end")


def _first_sse_event(url: str) -> str:
    with httpx.stream("GET", url + "/api/backtest/stream", timeout=10) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event:"):
                return line.split(":", 1)[1].strip()
    raise AssertionError("the stream ended without an event")


def test_runbook_end_to_end(server: SparkServer, tmp_path: Path) -> None:
    blocks = runbook_blocks(RUNBOOK.read_text())
    http = httpx.Client(base_url=server.url, timeout=10)
    backup = tmp_path / "backups" / "spark-backup.tar.gz"
    backup.parent.mkdir()
    env = clean_env(
        server.home,
        SPARK_URL=server.url,
        SPARK_HOME=str(server.home),
        ADMIN_TOKEN=ADMIN_TOKEN,
        BACKUP=str(backup),
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"

    # The incident's past: one finished run, one start with a wrong token (audited as failed).
    started = http.post("/api/backtest/start", json={"notes": "before the incident"}, headers=AUTH)
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    _wait_done(http, run_id)
    assert http.post("/api/backtest/start", json={}, headers={"x-admin-token": "wrong"}).status_code == 401
    evidence = server.home / "evidence" / "backtest"
    lost = {p: p.read_bytes() for p in evidence.glob(f"*{run_id}*")}  # mock runs write run_<id>.json only
    assert evidence / f"run_{run_id}.json" in lost

    def before_restore() -> None:
        for path in lost:
            path.unlink()

    def after_dry_run(out: str) -> None:
        assert "would be restored" in out and not any(p.exists() for p in lost)

    def after_restore(out: str) -> None:
        for path, data in lost.items():
            assert path.read_bytes() == data, path

    def after_switch_off(out: str) -> None:
        assert "  writeEnabled: true -> false" in out.splitlines(), out

    mutations_seen: list[tuple[int, int]] = []

    def before_verify() -> None:
        mutations_seen.append(
            (len(http.get("/api/backtest?limit=1000").json()["runs"]), len(_audit_lines(server.home)))
        )

    def after_verify(out: str) -> None:
        assert "writeEnabled: false" in out.splitlines() and "write is off" in out, out
        assert "reads go on: GET /api/backtest answers 200" in out, out
        after = (len(http.get("/api/backtest?limit=1000").json()["runs"]), len(_audit_lines(server.home)))
        assert after == mutations_seen[0], "the verification started a run or attempted a mutation"
        assert http.post("/api/backtest/start", json={}, headers=AUTH).status_code == 404
        assert http.delete(f"/api/backtest/cancel/{run_id}", headers=AUTH).status_code == 404
        assert http.get("/api/backtest").status_code == 200
        assert http.get(f"/api/backtest/{run_id}").status_code == 200
        assert _first_sse_event(server.url) == "snapshot"
        assert server.proc.poll() is None, "no restart"

    def after_health(out: str) -> None:
        assert "health: ok" in out.splitlines() and "backtest_active_runs" in out, out

    def after_backup(out: str) -> None:
        assert backup.is_file() and "MANIFEST.json" in out, out
        stamped = [p for p in backup.parent.glob("spark-backup-*Z.tar.gz")]
        assert len(stamped) == 1 and stamped[0].name in out, out  # the second backup, named with its time

    def after_audit(out: str) -> None:
        rows = [line for line in out.splitlines() if "FAILED" in line]
        assert rows and all("127.0.0.1" in row for row in rows)

    def after_daily_report(out: str) -> None:
        assert "Spark daily report for" in out and "refused" in out, out
        started, refused = out.splitlines()[-1].replace(",", "").split()[::2][:2]
        assert int(started) >= 2 and int(refused) >= 1, out  # the incident's runs and its wrong-token start

    def after_switch_on(out: str) -> None:
        assert "  writeEnabled: false -> true" in out.splitlines() and "writeEnabled: true" in out.splitlines(), out
        again = http.post("/api/backtest/start", json={"notes": "after the incident"}, headers=AUTH)
        assert again.status_code == 201, again.text
        assert server.proc.poll() is None

    before: dict[tuple[str, int], Callable[[], None]] = {
        ("2. Verify: write is off, reads go on", 0): before_verify,
        ("3. Restore evidence from a backup", 0): before_restore,
    }
    after: dict[tuple[str, int], Callable[[str], None]] = {
        ("Health at a glance", 0): after_health,
        ("Backups", 0): after_backup,
        ("1. Switch the write plugin off", 0): after_switch_off,
        ("2. Verify: write is off, reads go on", 0): after_verify,
        ("3. Restore evidence from a backup", 0): after_dry_run,
        ("3. Restore evidence from a backup", 1): after_restore,
        ("4. Review failed audit lines", 0): after_audit,
        ("5. Switch the write plugin back on", 0): after_switch_on,
        ("Daily report", 0): after_daily_report,
    }
    keys = {(b.heading, b.index) for b in blocks}
    assert set(before) | set(after) <= keys, f"runbook sections renamed: {sorted(set(after) - keys)}"

    operator = tmp_path / "operator"  # blocks cd to SPARK_HOME themselves where they need it
    operator.mkdir()
    for block in blocks:
        key = (block.heading, block.index)
        if key in before:
            before[key]()
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=operator,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{block.heading} #{block.index} failed:\n{block.code}\n{done.stdout}{done.stderr}"
        if key in after:
            after[key](done.stdout)
    assert len(blocks) >= 10
    assert not (server.home / "spark.toml").read_text().strip(), "switching back on leaves spark.toml as it was"
