"""``spark backup [--out FILE]``: evidence and audit logs into one tar.gz with a sha256 manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spark.config import load_settings
from spark.ops.backup import create_backup, default_backup_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="archive evidence and audit logs (tar.gz with a sha256 manifest)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="archive to write (default: backups/spark-backup-<UTC time>.tar.gz); never overwritten",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        report = create_backup(settings.evidence_dir, settings.audit_dir, args.out or default_backup_path())
    except OSError as exc:
        print(f"spark: error: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup {report.path}: {report.files} files, {report.bytes} bytes")
    return 0
