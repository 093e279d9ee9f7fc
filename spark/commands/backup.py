"""``spark backup [--out FILE | --out FOLDER/]``: evidence and audit logs into one tar.gz with a sha256 manifest,
named with the UTC date and time unless a file is given (so a cron entry can take several a day)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from spark.config import load_settings
from spark.ops.backup import create_backup, default_backup_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="archive evidence and audit logs (tar.gz with a sha256 manifest)")
    p.add_argument(
        "--out",
        default=None,
        help="archive to write, never overwritten; a folder (an existing one, or a path ending in /) gets "
        "spark-backup-<UTC date and time>.tar.gz inside it (default: the folder backups/)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        report = create_backup(settings.evidence_dir, settings.audit_dir, _target(args.out))
    except OSError as exc:
        print(f"spark: error: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup {report.path}: {report.files} files, {report.bytes} bytes")
    return 0


def _target(out: str | None) -> Path:
    """The archive to write: ``out`` itself, or a time-stamped name inside ``out`` when it names a folder."""
    if out is None:
        return default_backup_path()
    if Path(out).is_dir() or out.endswith(("/", os.sep)):
        return default_backup_path(Path(out))
    return Path(out)
