"""Query the audit logs (``<audit_dir>/backtest_YYYYMMDD.log``, one JSON line per mutation attempt).

Lines look like ``{timestamp, action, ip, user, id, payload, success, error?}`` (DESIGN.md "Audit"). Reading never
writes: a torn last line (a crash mid-append; the auditor repairs it at its next start) is counted and skipped, and
so is any other line that is not a JSON object, with its file and line number, so one bad line never hides the rest.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from spark.errors import InputError

__all__ = ["ACTIONS", "AuditQuery", "AuditResult", "format_line", "parse_day", "parse_ip", "parse_when", "query_audit"]

_FILE = re.compile(r"^backtest_(\d{8})\.log$")

# Every audited mutation (DESIGN.md, "Every mutation"): the `action` of its audit lines.
ACTIONS = (
    "start",
    "cancel",
    "delete",
    "sweep.start",
    "sweep.cancel",
    "live.start",
    "live.stop",
    "data.upload",
    "change.submit",
    "change.edit",
    "change.approve",
    "change.reject",
    "change.withdraw",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """Filters, all optional and combined with AND. ``until`` is exclusive."""

    day: date | None = None
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    success: bool | None = None
    ip: str | None = None

    def __post_init__(self) -> None:
        if self.day is not None and (self.since is not None or self.until is not None):
            raise InputError("use either --day or --since/--until, not both")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InputError("--since must be before --until")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditResult:
    lines: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    torn: int = 0  # torn last lines skipped
    bad: list[str] = field(default_factory=list)  # "file:line: reason" for other unreadable lines


def parse_day(text: str) -> date:
    """``YYYYMMDD`` (the log file's suffix) or ``YYYY-MM-DD``."""
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InputError(f"--day {text!r}: expected YYYYMMDD", field="day")


def parse_when(text: str, *, flag: str, end: bool = False) -> datetime:
    """A UTC instant from ``YYYY-MM-DD`` / ``YYYYMMDD`` (midnight; the next midnight when ``end``) or ISO-8601.

    A time without an offset is taken as UTC, like every timestamp Spark writes.
    """
    if re.fullmatch(r"\d{8}|\d{4}-\d{2}-\d{2}", text):
        try:
            day = parse_day(text)
        except InputError:
            raise InputError(f"{flag} {text!r}: not a date", field=flag.lstrip("-")) from None
        moment = datetime.combine(day, time(), tzinfo=UTC)
        return moment + timedelta(days=1) if end else moment
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected YYYY-MM-DD or an ISO-8601 time", field=flag.lstrip("-")) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InputError(f"--ip {text!r}: not an IP address", field="ip") from None


def query_audit(audit_dir: Path, query: AuditQuery) -> AuditResult:
    """Every line of the selected days' files that passes ``query``, in file (= time) order."""
    if not audit_dir.is_dir():
        raise InputError(f"no audit logs: {audit_dir} is not a folder (set SPARK_LOG_DIR like the server's)")
    lines: list[dict[str, Any]] = []
    bad: list[str] = []
    torn = 0
    files = list(_files(audit_dir, query))
    for path in files:
        for lineno, record, problem in _read(path):
            if problem == "torn":
                torn += 1
            elif problem:
                bad.append(f"{path}:{lineno}: {problem}")
            elif _matches(record, query):
                lines.append(record)
    return AuditResult(lines=lines, files=len(files), torn=torn, bad=bad)


def format_line(record: dict[str, Any]) -> str:
    """One human-readable row: time, action, outcome, ip, user, run id, error."""
    outcome = "ok" if record.get("success") is True else "FAILED"
    error = record.get("error")
    parts = [
        str(record.get("timestamp", "?")),
        f"{record.get('action', '?'):<6}",  # the longest actions (change.withdraw) just push the row wider
        f"{outcome:<6}",
        str(record.get("ip", "?")),
        str(record.get("user", "?")),
        str(record.get("id") or "-"),
    ]
    if error:
        parts.append(str(error))
    return "  ".join(parts)


def _files(audit_dir: Path, query: AuditQuery) -> Iterator[Path]:
    first = last = None
    if query.day is not None:
        first = last = query.day
    else:
        if query.since is not None:
            first = query.since.date()
        if query.until is not None:
            last = (query.until - timedelta(microseconds=1)).date()
    for path in sorted(audit_dir.iterdir()):
        m = _FILE.match(path.name)
        if m is None or not path.is_file():
            continue
        try:
            day = datetime.strptime(m.group(1), "%Y%m%d").date()
        except ValueError:
            continue
        if (first is None or day >= first) and (last is None or day <= last):
            yield path


def _read(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete = data.endswith(b"\n")
    if complete:
        lines.pop()  # the empty piece after the final newline
    for index, raw in enumerate(lines):
        lineno = index + 1
        last = index == len(lines) - 1
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            yield lineno, {}, "torn" if last and not complete else "not JSON"
            continue
        if not isinstance(record, dict):
            yield lineno, {}, "not a JSON object"
            continue
        yield lineno, record, ""


def _matches(record: dict[str, Any], q: AuditQuery) -> bool:
    if q.action is not None and record.get("action") != q.action:
        return False
    if q.success is not None and (record.get("success") is True) != q.success:
        return False
    if q.ip is not None and record.get("ip") != q.ip:
        return False
    if q.since is not None or q.until is not None:
        moment = _timestamp(record)
        if moment is None:
            return False
        if q.since is not None and moment < q.since:
            return False
        if q.until is not None and moment >= q.until:
            return False
    return True


def _timestamp(record: dict[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(record.get("timestamp")))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
