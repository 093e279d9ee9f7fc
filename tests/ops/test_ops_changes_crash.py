"""A kill -9 in the middle of a change request's transition loses nothing: after the restart the files and the audit
trail agree (every transition on disk has exactly one audit line, none audited that is not on disk), and at most one
parameter set is active. The kills land at several instants of a submit and of an approval (which writes two files);
tests/service/test_changestore_intents.py pins both crash states exactly."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from opshelp import ADMIN_TOKEN, SparkServer

from spark.service.users import add_user

PARAMS = {"fast": 10, "slow": 30}
WF = "wf-1700000000000-0000000a"


def plant_walk_forward(home: Path) -> None:
    folder = home / "evidence" / "sweeps" / WF
    folder.mkdir(parents=True)
    result = {"final": {"params": PARAMS}, "outOfSample": {"sharpe": 1.2}, "deflatedSharpe": {"value": 0.99}}
    doc = {"id": WF, "kind": "walkforward", "status": "done", "strategy": "sma_cross", "finishedAt": 1}
    (folder / "sweep.json").write_text(json.dumps({**doc, "result": {**result, "degradation": 0.1}}))


def raw_request(url: str, method: str, path: str, body: dict, token: str) -> bytes:
    data = json.dumps(body).encode()
    host = urlsplit(url).netloc
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nx-admin-token: {token}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


def kill_during(server: SparkServer, request: bytes, delay_s: float) -> None:
    """Send ``request`` and kill -9 the server ``delay_s`` later, whatever it is doing."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(request)
        time.sleep(delay_s)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
    server.stop()


def audited(home: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in sorted((home / "logs" / "audit").glob("backtest_*.log")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["action"].startswith("change.") and entry["success"]:
                counts[entry["id"]] = counts.get(entry["id"], 0) + 1
    return counts


def check_agreement(home: Path) -> dict[str, Any]:
    folder = home / "evidence" / "changes"
    assert not list(folder.glob("*.intent.json")), "every intent is settled at start-up"
    requests = {p.stem: json.loads(p.read_text()) for p in folder.glob("cr-*.json")}
    assert audited(home) == {cid: len(doc["history"]) for cid, doc in requests.items()}
    sets = json.loads((folder / "params.json").read_text())["sets"] if (folder / "params.json").exists() else []
    active = [s for s in sets if s["state"] == "active"]
    assert len(active) <= 1
    for s in active:
        assert requests[s["changeId"]]["state"] == "active"
    return requests


@pytest.mark.slow
def test_kill_9_during_submit_and_approve_leaves_files_and_audit_in_agreement(tmp_path: Path) -> None:
    home = tmp_path
    tokens = {
        n: add_user(home / ".spark" / "users.toml", n, r, 0) for n, r in (("olga", "operator"), ("bob", "approver"))
    }
    plant_walk_forward(home)
    server = SparkServer(home, BACKTEST_IMPL="engine")
    try:
        start = {"params": PARAMS, "feed": {"name": "default"}}
        run_id = httpx.post(
            f"{server.url}/api/backtest/start", json=start, headers={"x-admin-token": ADMIN_TOKEN}
        ).json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/api/backtest/{run_id}").json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        body = {
            "strategy": "sma_cross",
            "pair": "GOOG",
            "timeframe": "1d",
            "params": PARAMS,
            "rationale": "crash test",
            "evidence": {"runs": [run_id], "walkForward": WF},
        }
        for delay in (0.0, 0.02, 0.2):  # kills during a submit: before, while and after it is decided
            kill_during(server, raw_request(server.url, "POST", "/api/changes", body, tokens["olga"]), delay)
            server = SparkServer(home, BACKTEST_IMPL="engine")
            check_agreement(home)
        for delay in (0.0, 0.005, 0.02, 0.2):  # kills during approvals of a fresh pending request each
            pending = httpx.post(f"{server.url}/api/changes", json=body, headers={"x-admin-token": tokens["olga"]})
            assert pending.status_code == 201, pending.text
            doc = pending.json()
            approve = raw_request(
                server.url, "POST", f"/api/changes/{doc['id']}/approve", {"paramsSha": doc["paramsSha"]}, tokens["bob"]
            )
            kill_during(server, approve, delay)
            server = SparkServer(home, BACKTEST_IMPL="engine")
            requests = check_agreement(home)
            assert requests[doc["id"]]["state"] in ("pending", "active")
            listed = httpx.get(f"{server.url}/api/changes/{doc['id']}").json()
            assert listed["state"] == requests[doc["id"]]["state"]  # the server serves what the files hold
    finally:
        server.stop()
