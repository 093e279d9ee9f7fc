"""``spark prune (--older-than 30d | --keep N) [--dry-run]``: remove ended runs and their evidence.

When this folder's pid file names a running server, the runs are deleted through its API (``DELETE
/api/backtest/<id>``, audited as ``delete``; the token from ``ADMIN_TOKEN`` or ``<state dir>/admin-token``);
otherwise the evidence files are removed directly (record first, then results: a crash leaves either the whole run
or nothing listed). Queued and running runs are never removed. ``--dry-run`` lists what would go.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spark.config import load_settings
from spark.errors import InputError
from spark.ids import wall_ms
from spark.ops.control import iso_ms, locate, state_dir

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune",
        help="remove ended runs and their evidence (older than an age, or all but the newest N)",
        description=__doc__.split("\n\n")[0],
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", metavar="AGE", type=_age, help="runs started more than AGE ago: 30d, 12h, 2w")
    which.add_argument("--keep", metavar="N", type=_count, help="keep the newest N runs, remove the other ended ones")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.add_argument("--evidence-dir", type=Path, help="the evidence folder (default: SPARK_EVIDENCE_DIR or ./evidence)")
    p.set_defaults(func=run)


def _age(text: str) -> int:
    from spark.ops.prune import parse_age

    try:
        return parse_age(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--keep expects a whole number, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    import httpx  # loaded only for this command, not for every `spark` call (nor the engine, through the files)

    from spark.ops.prune import Candidate, on_disk, prune_files, prune_via_api, select, via_api

    settings = load_settings()
    located = locate(state_dir())
    served = located is not None and located.running

    def report(run: Candidate) -> None:
        size = "" if run.bytes is None else f", {run.bytes / 1e6:.1f} MB"
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} {run.id} ({run.status}, started {iso_ms(run.started_at)}{size})", flush=True)

    if served:
        token = settings.admin_token or _saved_token(settings.state_dir)
        if not token and not args.dry_run:
            raise InputError("a server is running: its ADMIN_TOKEN is needed to delete runs through it")
        with httpx.Client(base_url=located.info.url, timeout=30, headers={"x-admin-token": token}) as http:
            chosen = select(via_api(http), now_ms=wall_ms(), older_than_ms=args.older_than, keep=args.keep)
            count = len(chosen) if args.dry_run else prune_via_api(http, chosen, report)
            if args.dry_run:
                for run in chosen:
                    report(run)
    else:
        evidence_dir = args.evidence_dir or settings.evidence_dir
        chosen = select(on_disk(evidence_dir), now_ms=wall_ms(), older_than_ms=args.older_than, keep=args.keep)
        if args.dry_run:
            for run in chosen:
                report(run)
            count = len(chosen)
        else:
            count = prune_files(evidence_dir, chosen, report)
    where = f"through the server at {located.info.url}" if served else "on the files (no server running)"
    print(f"{'would remove' if args.dry_run else 'removed'} {count} run(s) {where}", file=sys.stderr)
    return 0


def _saved_token(folder: Path) -> str:
    try:
        return (folder / "admin-token").read_text().strip()
    except OSError:
        return ""
