"""spark.logs: the lines a real `spark serve` process writes on stderr (JSON when stderr is not a terminal), one per
request, per run status change and per reload, with no token and no request body in them; the text format."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opshelp import ADMIN_TOKEN, SparkServer

from spark import logs

pytestmark = pytest.mark.slow
BODY_MARKER = "body-marker-7f3e9a"
WRONG_TOKEN = "wrong-token-5d1c0b7a"


def _wait(predicate: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_real_server_logs_requests_runs_and_reloads_as_json_without_secrets(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    server = SparkServer(tmp_path, log_path=log_path, SPARK_MOCK_DELAY_S="30")
    try:
        http = httpx.Client(base_url=server.url, timeout=10)
        auth = {"x-admin-token": ADMIN_TOKEN}
        assert http.get("/api/backtest?limit=5").status_code == 200
        assert http.get("/no%0Asuch%09route").status_code == 404  # a newline in the path: still one line
        body = {"notes": BODY_MARKER}
        assert http.post("/api/backtest/start", json=body, headers={"x-admin-token": WRONG_TOKEN}).status_code == 401
        started = http.post("/api/backtest/start", json=body, headers=auth)
        assert started.status_code == 201
        run_id = started.json()["id"]
        assert http.delete(
            f"/api/backtest/cancel/{run_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ).is_success

        os.kill(server.pid, signal.SIGHUP)
        _wait(lambda: http.get("/api/config").json()["reloads"] == 1)
        (tmp_path / "spark.toml").write_text("[plugins\n")  # does not parse
        os.kill(server.pid, signal.SIGHUP)
        _wait(lambda: http.get("/api/config").json()["reloadAttempts"] == 2)
    finally:
        server.stop()

    text = log_path.read_text()
    assert ADMIN_TOKEN not in text and WRONG_TOKEN not in text and BODY_MARKER not in text
    lines = _lines(log_path)  # every line is one JSON object
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"]), line
        assert {"level", "logger", "message"} <= set(line)

    requests = [line for line in lines if line.get("event") == "request"]
    listed, refused, start, cancel = (
        next(r for r in requests if r["route"] == route and r["status"] == status)
        for route, status in [
            ("/api/backtest", 200),
            ("/api/backtest/start", 401),
            ("/api/backtest/start", 201),
            ("/api/backtest/cancel/<id>", 200),
        ]
    )
    assert listed["path"] == "/api/backtest" and listed["method"] == "GET"  # no query string
    (odd,) = [r for r in requests if r["route"] == "unmatched"]
    assert odd["path"] == "/no\\x0asuch\\x09route" and odd["status"] == 404
    assert refused["user"] is None and start["user"] == "admin" and cancel["user"] == "admin"
    assert start["method"] == "POST" and start["client"] == "127.0.0.1"
    assert isinstance(start["duration_ms"], float) and start["duration_ms"] >= 0
    assert cancel["path"] == f"/api/backtest/cancel/{run_id}"

    runs = [(r["status"], r["error"]) for r in lines if r.get("event") == "run" and r["id"] == run_id]
    assert runs[0] == ("queued", None) and runs[-1] == ("failed", "cancelled")
    assert all(r["strategy"] == "sma_cross" for r in lines if r.get("event") == "run")

    reloads = [line for line in lines if line.get("event") == "reload"]
    assert [r["outcome"] for r in reloads] == ["ok", "failed"]
    assert reloads[0]["level"] == "INFO" and reloads[1]["level"] == "ERROR"
    assert "spark.toml" in reloads[1]["error"]
    assert any(line.get("event") == "stopping" and line["signal"] == "SIGTERM" for line in lines)


def _one_line(fmt: str, secret: str = "") -> str:
    stream = io.StringIO()
    handler = logs.configure(fmt, stream=stream, secrets=lambda: (secret,))
    try:
        logging.getLogger("spark.http").info(
            "GET /x 200 1.0ms",
            extra=logs.fields(
                event="request",
                method="GET",
                path="/x",
                status=200,
                duration_ms=1.0,
                user=None,
                client="127.0.0.1",
                route="/x",
                note=f"has {secret} and spaces",
            ),
        )
    finally:
        logging.getLogger().removeHandler(handler)
    return stream.getvalue()


def test_text_lines_are_one_line_each_with_key_value_pairs_and_secrets_redacted() -> None:
    line = _one_line("text", secret="tok-123")
    assert line.endswith("\n") and line.count("\n") == 1
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  spark\.http GET /x 200 1\.0ms ", line), line
    assert " user=- client=127.0.0.1 route=/x note='has [redacted] and spaces'" in line
    assert "tok-123" not in line and " status=" not in line  # the message has it already
    doc = json.loads(_one_line("json", secret="tok-123"))
    assert doc["status"] == 200 and doc["note"] == "has [redacted] and spaces" and doc["user"] is None


def test_the_default_is_text_on_a_terminal_and_json_otherwise(tmp_path: Path) -> None:
    with (tmp_path / "f").open("w") as not_a_tty:
        assert logs.default_format(not_a_tty) == "json"
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            assert logs.default_format(tty) == "text"
    finally:
        os.close(leader)
        os.close(follower)
    with pytest.raises(ValueError, match="text, json"):
        logs.configure("xml")


def test_an_audit_log_that_cannot_be_written_is_logged_and_the_start_refused(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    server = SparkServer(tmp_path, "--log-format", "json", log_path=log_path)
    try:
        audit = tmp_path / "logs" / "audit"
        if audit.is_dir():
            for old in audit.glob("*"):
                old.unlink()
            audit.rmdir()
        audit.parent.mkdir(parents=True, exist_ok=True)
        audit.write_text("not a folder\n")  # every audit write now fails (ENOTDIR), even for root
        answer = httpx.post(
            server.url + "/api/backtest/start", json={"notes": BODY_MARKER}, headers={"x-admin-token": ADMIN_TOKEN}
        )
        assert answer.status_code == 503, answer.text
    finally:
        server.stop()
    failed = [line for line in _lines(log_path) if line.get("event") == "audit_failed"]
    assert failed and failed[0]["level"] == "ERROR" and failed[0]["actions"] == ["start"]
    assert BODY_MARKER not in log_path.read_text() and ADMIN_TOKEN not in log_path.read_text()
