"""What `spark status` and `spark reload` share: find the server through its pid file, read its ``/health`` and
``/api/config`` over HTTP, show a config document, and say how two of them differ.

Nothing here raises for a server that does not answer: `Answer` carries the error instead, so the commands can
print it and choose their exit code (0 healthy, 1 not answering or unhealthy, 2 no server).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from spark.config import load_settings
from spark.errors import InputError
from spark.ops.pidfile import ServerInfo, is_spark_server, pid_path, read_pid_file

__all__ = [
    "RELOAD_FIELDS",
    "Answer",
    "Located",
    "client",
    "config_changes",
    "config_lines",
    "get_json",
    "iso_ms",
    "locate",
    "parse_timeout",
    "parse_url",
    "state_dir",
]

# /api/config fields that describe the reloads rather than the configuration: never reported as a change.
RELOAD_FIELDS = ("reloads", "reloadedAt", "reloadAttempts", "reloadError")
_TIME_FIELDS = ("reloadedAt", "startedAt")


def state_dir() -> Path:
    """The state dir from the settings, as `spark serve` sees them. A spark.toml that does not load is skipped
    here (environment and defaults only): reporting it is the server's job, on the reload that reads it."""
    try:
        return load_settings().state_dir
    except InputError:
        return load_settings(toml_path=None).state_dir


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """The server a pid file names: ``info`` as written, ``running`` False when the file is stale."""

    path: Path
    info: ServerInfo
    running: bool


def locate(folder: Path) -> Located | None:
    """The server of the pid file in ``folder``; None when there is no pid file. PidFileError when damaged."""
    path = pid_path(folder)
    info = read_pid_file(path)
    if info is None:
        return None
    return Located(path=path, info=info, running=is_spark_server(info.pid))


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One GET: the HTTP status and JSON document, or ``error`` (no answer, or not JSON) with ``status`` None."""

    status: int | None = None
    doc: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.doc, dict)


def parse_url(text: str) -> str:
    """A server's base URL given on the command line (``--url``): http(s), a host, a valid port; no trailing slash.
    InputError otherwise."""
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as exc:
        raise InputError(f"--url: not a URL: {text!r} ({exc})", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise InputError(f"--url: not an http(s) URL with a host: {text!r}", field="url")
    return text.rstrip("/")


def parse_timeout(text: str) -> float:
    """``--timeout`` seconds: a number above 0 and below 3600 (an argparse type: a bad one is a usage error)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 3600:
        raise argparse.ArgumentTypeError(f"seconds above 0 and below 3600, got {text!r}")
    return value


def client(url: str, timeout: float) -> httpx.Client:
    """A client for the server at ``url``; proxies from the environment are ignored (the pid file's URL is the
    server's own address)."""
    return httpx.Client(base_url=url, timeout=timeout, trust_env=False)


def get_json(http: httpx.Client, path: str) -> Answer:
    try:
        response = http.get(path)
    except httpx.TimeoutException:
        return Answer(error=f"no answer within {http.timeout.read:g} s")
    except httpx.HTTPError as exc:
        return Answer(error=f"no answer: {exc}")
    try:
        doc = response.json()
    except ValueError:
        return Answer(error=f"HTTP {response.status_code}, not JSON")
    return Answer(status=response.status_code, doc=doc)


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as UTC ISO-8601 with ``Z``, to the second."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _show(key: str, value: Any) -> str:
    """A value for people: JSON (``true``, ``null``, ``["write"]``), but a non-empty string as it is."""
    text = value if isinstance(value, str) and value else json.dumps(value)
    if key in _TIME_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        text += f" ({iso_ms(value)})"
    return text


def config_lines(doc: dict[str, Any]) -> list[str]:
    """``key: value`` per field (``writeEnabled: false``), epoch-ms times with their UTC time beside them."""
    return [f"{key}: {_show(key, value)}" for key, value in doc.items()]


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for each configuration field that differs (reload bookkeeping left out)."""
    keys = [*before, *(k for k in after if k not in before)]
    return [
        f"{key}: {_show(key, before.get(key))} -> {_show(key, after.get(key))}"
        for key in keys
        if key not in RELOAD_FIELDS and before.get(key) != after.get(key)
    ]
