"""``spark restore FILE [--force] [--only evidence|audit] [--dry-run]``: verify a backup, then write back what is
missing or older on disk; files newer on disk are kept unless ``--force``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spark.config import load_settings
from spark.ops.backup import ROOTS, restore_backup


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="verify a backup and restore evidence and audit logs from it")
    p.add_argument("archive", type=Path, metavar="FILE", help="a file written by `spark backup`")
    p.add_argument(
        "--force", action="store_true", help="also overwrite files on disk that are newer than their copy in the backup"
    )
    p.add_argument("--only", choices=ROOTS, default=None, help="restore only evidence or only audit logs")
    p.add_argument("--dry-run", action="store_true", help="verify the archive and say what would be done")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    only = ROOTS if args.only is None else (args.only,)
    try:
        report = restore_backup(
            args.archive, settings.evidence_dir, settings.audit_dir, force=args.force, only=only, dry_run=args.dry_run
        )
    except OSError as exc:
        print(f"spark: error: restore failed: {exc}", file=sys.stderr)
        return 1
    would = "would be " if args.dry_run else ""
    for label, names in (
        ("restored", report.restored),
        ("overwritten", report.overwritten),
        ("kept (newer on disk)", report.kept),
    ):
        for name in names:
            print(f"{would if label != 'kept (newer on disk)' else ''}{label}: {name}")
    print(
        f"restore {args.archive}{' (dry run: nothing written)' if args.dry_run else ''}: "
        f"{len(report.restored)} {would}restored, {len(report.overwritten)} {would}overwritten, "
        f"{len(report.unchanged)} unchanged, {len(report.kept)} newer on disk kept"
        + ("" if not report.kept or args.force else " (--force overwrites them)")
    )
    return 0
