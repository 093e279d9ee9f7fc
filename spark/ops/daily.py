"""The daily operations report (`spark report daily`), from the files alone: the run records in the evidence folder
and the day's audit log. It needs no running server and no Prometheus, so it works on a backup restored elsewhere.

A run belongs to the UTC day its start was accepted (``startedAt``; also the time in its id). Durations are
``finishedAt - startedAt`` of the runs that ended, cancellations left out (how long a user waited before
cancelling says nothing about Spark); percentiles interpolate linearly between the two nearest runs. Refusals are
the audit lines with ``success: false``, grouped by action, reason (the error's code, such as ``unauthorized``
or ``rate_limited``) and client IP. Reading never writes; an unreadable record is counted, never fatal.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from spark.ops.audit import AuditQuery, query_audit

__all__ = ["SLOWEST", "DailyReport", "daily_report", "format_report", "percentile"]

SLOWEST = 5
_REASON = re.compile(r"^([a-z_]+): ")
_RUN_FILE = re.compile(r"^run_(bt-[0-9]{13}-[0-9a-f]{8})\.json$")


@dataclass(slots=True, kw_only=True)
class DailyReport:
    day: date
    by_status: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0
    durations_s: list[float] = field(default_factory=list)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    unreadable_runs: int = 0
    audit_lines: int = 0
    audit_refused: int = 0
    refusals: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (action, reason, ip)
    audit_bad: int = 0
    evidence_files: int = 0
    evidence_bytes: int = 0
    day_files: int = 0
    day_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        durations = self.durations_s
        return {
            "day": self.day.strftime("%Y%m%d"),
            "runs": {
                "started": sum(self.by_status.values()),
                "byStatus": {s: self.by_status.get(s, 0) for s in ("queued", "running", "done", "failed")},
                "cancelled": self.cancelled,
                "unreadable": self.unreadable_runs,
            },
            "durations": {
                "count": len(durations),
                "p50": percentile(durations, 0.50),
                "p95": percentile(durations, 0.95),
                "max": max(durations) if durations else None,
            },
            "slowest": self.slowest,
            "failures": [
                {"error": e, "count": n} for e, n in sorted(self.failures.items(), key=lambda x: (-x[1], x[0]))
            ],
            "audit": {
                "lines": self.audit_lines,
                "refused": self.audit_refused,
                "unreadable": self.audit_bad,
                "refusals": [
                    {"action": a, "reason": r, "ip": ip, "count": n}
                    for (a, r, ip), n in sorted(self.refusals.items(), key=lambda x: (-x[1], x[0]))
                ],
            },
            "evidence": {
                "files": self.evidence_files,
                "bytes": self.evidence_bytes,
                "dayFiles": self.day_files,
                "dayBytes": self.day_bytes,
            },
        }


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def daily_report(evidence_dir: Path, audit_dir: Path, day: date) -> DailyReport:
    report = DailyReport(day=day)
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    end = start + int(timedelta(days=1).total_seconds() * 1000)
    day_ids = _runs(report, evidence_dir / "backtest", start, end)
    _evidence_sizes(report, evidence_dir, day_ids)
    if not audit_dir.is_dir():
        return report  # no mutation was ever audited here
    audit = query_audit(audit_dir, AuditQuery(day=day))
    report.audit_lines = len(audit.lines)
    report.audit_bad = len(audit.bad) + audit.torn
    for line in audit.lines:
        if line.get("success") is True:
            continue
        report.audit_refused += 1
        error = str(line.get("error") or "unknown")
        m = _REASON.match(error)
        reason = m.group(1) if m else error[:80]
        report.refusals[(str(line.get("action")), reason, str(line.get("ip")))] += 1
    return report


def _runs(report: DailyReport, folder: Path, start: int, end: int) -> set[str]:
    """Count the day's runs into ``report``; returns their ids."""
    ids: set[str] = set()
    ended: list[tuple[float, dict[str, Any]]] = []
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return ids
    for name in names:
        m = _RUN_FILE.match(name)
        if m is None or not start <= int(name.split("-")[1]) < end:
            continue  # the id's time is the start's: other days are skipped unread
        try:
            (record,) = json.loads((folder / name).read_text())["runs"]
            status, started_at = record["status"], record["startedAt"]
        except (OSError, ValueError, KeyError, TypeError):
            report.unreadable_runs += 1
            continue
        if not (isinstance(started_at, int) and start <= started_at < end):
            continue
        ids.add(m.group(1))
        report.by_status[status] += 1
        error = record.get("error")
        if status == "failed":
            report.failures[str(error)] += 1
            if error == "cancelled":
                report.cancelled += 1
                continue
        finished = record.get("finishedAt")
        if status in ("done", "failed") and isinstance(finished, int) and finished >= started_at:
            ended.append(((finished - started_at) / 1000, record))
    report.durations_s = [seconds for seconds, _ in ended]
    ended.sort(key=lambda x: -x[0])
    report.slowest = [
        {
            "id": record["id"],
            "strategy": record.get("strategy"),
            "status": record["status"],
            "durationS": round(seconds, 3),
            "error": record.get("error"),
        }
        for seconds, record in ended[:SLOWEST]
    ]
    return ids


def _evidence_sizes(report: DailyReport, evidence_dir: Path, day_ids: set[str]) -> None:
    for dirpath, _dirnames, filenames in os.walk(evidence_dir, followlinks=False):
        for name in filenames:
            try:
                size = os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue  # removed meanwhile
            report.evidence_files += 1
            report.evidence_bytes += size
            if any(run_id in name for run_id in day_ids):
                report.day_files += 1
                report.day_bytes += size


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def format_report(report: DailyReport) -> list[str]:
    """The report for a person: one fact a line, the lists indented."""
    doc = report.to_json()
    runs, durations, audit, evidence = doc["runs"], doc["durations"], doc["audit"], doc["evidence"]
    by = runs["byStatus"]
    lines = [
        f"Spark daily report for {report.day.isoformat()} (UTC), from the evidence and audit files",
        f"runs: {runs['started']} started; done {by['done']}, failed {by['failed']} (cancelled {runs['cancelled']}), "
        f"queued {by['queued']}, running {by['running']}"
        + (f"; {runs['unreadable']} unreadable record(s) skipped" if runs["unreadable"] else ""),
        f"durations of {durations['count']} ended run(s), cancellations left out: p50 {_seconds(durations['p50'])}, "
        f"p95 {_seconds(durations['p95'])}, max {_seconds(durations['max'])}",
    ]
    if doc["slowest"]:
        lines.append("slowest runs:")
        lines += [
            f"  {r['id']}  {r['strategy']}  {r['status']}  {_seconds(r['durationS'])}"
            + (f"  ({r['error']})" if r["error"] else "")
            for r in doc["slowest"]
        ]
    if doc["failures"]:
        lines.append("failures by error:")
        lines += [f"  {f['count']:>5}  {f['error']}" for f in doc["failures"]]
    lines.append(
        f"audit: {audit['lines']} line(s), {audit['refused']} refused"
        + (f", {audit['unreadable']} unreadable line(s) skipped" if audit["unreadable"] else "")
    )
    if audit["refusals"]:
        lines.append("refusals by action, reason and IP:")
        lines += [f"  {r['count']:>5}  {r['action']}  {r['reason']}  {r['ip']}" for r in audit["refusals"]]
    lines.append(
        f"evidence: {evidence['files']} file(s), {_size(evidence['bytes'])} in all; "
        f"the day's runs: {evidence['dayFiles']} file(s), {_size(evidence['dayBytes'])}"
    )
    return lines
