"""``spark report daily [--day YYYYMMDD] [--json]``: the day's runs, durations, failures, audit refusals and
evidence size, from the evidence and audit files alone (`spark.ops.daily`); no server needed."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from spark.config import load_settings
from spark.ops.audit import parse_day
from spark.ops.daily import daily_report, format_report

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="operations reports from the evidence and audit files",
        description="Operations reports read from the files (SPARK_EVIDENCE_DIR, SPARK_LOG_DIR), not from a server.",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    daily = kinds.add_parser(
        "daily",
        help="one UTC day: runs by status, p50/p95 durations, slowest runs, failures by error, audit refusals "
        "by reason and IP, evidence size",
    )
    daily.add_argument("--day", help="the UTC day, YYYYMMDD (default: today)")
    daily.add_argument("--json", action="store_true", help="print the report as one JSON document")
    daily.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    day = parse_day(args.day) if args.day else datetime.now(UTC).date()
    settings = load_settings()
    report = daily_report(settings.evidence_dir, settings.audit_dir, day)
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        print("\n".join(format_report(report)))
    return 0
