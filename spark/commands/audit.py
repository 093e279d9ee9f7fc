"""``spark audit``: query the audit logs by day or time range, action, outcome and client IP."""

from __future__ import annotations

import argparse
import json
import sys

from spark.config import load_settings
from spark.ops.audit import ACTIONS, AuditQuery, format_line, parse_day, parse_ip, parse_when, query_audit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="query the audit logs (every mutation attempt: start, cancel, delete, ...)")
    p.add_argument("--day", help="one UTC day, YYYYMMDD (the log file's suffix)")
    p.add_argument("--since", help="from this UTC time on: YYYY-MM-DD or ISO-8601")
    p.add_argument("--until", help="before this UTC time: YYYY-MM-DD (that whole day included) or ISO-8601")
    p.add_argument("--action", choices=ACTIONS, metavar="ACTION", help=f"only this action: {', '.join(ACTIONS)}")
    outcome = p.add_mutually_exclusive_group()
    outcome.add_argument("--failed", action="store_true", help="only failed attempts (bad token, rate limit, ...)")
    outcome.add_argument("--success", action="store_true", help="only successful attempts")
    p.add_argument("--ip", help="only attempts from this client IP")
    p.add_argument("--json", action="store_true", help="print the matching lines as JSON lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    query = AuditQuery(
        day=parse_day(args.day) if args.day else None,
        since=parse_when(args.since, flag="--since") if args.since else None,
        until=parse_when(args.until, flag="--until", end=True) if args.until else None,
        action=args.action,
        success=False if args.failed else True if args.success else None,
        ip=parse_ip(args.ip) if args.ip else None,
    )
    result = query_audit(load_settings().audit_dir, query)
    for record in result.lines:
        print(json.dumps(record, separators=(",", ":")) if args.json else format_line(record))
    for problem in result.bad:
        print(f"spark: warning: {problem}, skipped", file=sys.stderr)
    failed = sum(1 for r in result.lines if r.get("success") is not True)
    torn = f", {result.torn} torn last line(s) skipped" if result.torn else ""
    print(f"{len(result.lines)} audit line(s), {failed} failed, in {result.files} file(s){torn}", file=sys.stderr)
    return 0
