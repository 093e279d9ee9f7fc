"""``spark data fetch btcturk --pair BTCTRY --timeframe 1h --since 2024-01-01 [--until DATE] [--out FILE]``.

Writes ``<data dir>/<PAIR>-<timeframe>.csv`` (or ``--out``) in Spark's ``timestamp,open,high,low,close,volume``
layout, atomically; run again, it appends only the candles closed since (`spark.market.history`). A progress bar
on a terminal only. Bad input (an unknown pair, an unsupported timeframe, ``--since`` in the future) is one line
and exit 2, nothing written; an exchange that keeps failing is one line and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]

EXCHANGES = ("btcturk",)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="market data: fetch an exchange's candle history into the data directory")
    data = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data.add_parser(
        "fetch",
        help="fetch closed candles into a CSV file (resumable: a re-run appends only what is new)",
        description=__doc__.split("\n\n")[0],
    )
    fetch.add_argument("exchange", choices=EXCHANGES, help="the exchange (btcturk)")
    fetch.add_argument("--pair", required=True, help="the pair as the exchange lists it, e.g. BTCTRY or BTC_TRY")
    fetch.add_argument("--timeframe", required=True, help="1m, 5m, 15m, 30m, 1h, 4h, 1d or 1w")
    fetch.add_argument("--since", required=True, help="first candle: a UTC date (2024-01-01[T12:00Z]) or epoch ms")
    fetch.add_argument("--until", help="stop before this time (default: the last closed candle)")
    fetch.add_argument("--out", type=Path, help="the CSV file (default: <data dir>/<PAIR>-<timeframe>.csv)")
    fetch.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import trio

    from spark.config import load_settings
    from spark.errors import Unavailable
    from spark.market.history import fetch_to_csv, parse_when
    from spark.market.klines import check_timeframe

    settings = load_settings()
    check_timeframe(args.timeframe, field="--timeframe")
    since = parse_when(args.since, "--since")
    until = None if args.until is None else parse_when(args.until, "--until")
    bar = _Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        result = trio.run(
            lambda: fetch_to_csv(
                settings, args.pair, args.timeframe, since, until, path=args.out, on_page=bar and bar.update
            )
        )
    except Unavailable as exc:
        print(f"spark: error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.done()
    gaps = sum(missing for _, missing in result.gaps)
    gap_note = f", {len(result.gaps)} gaps ({gaps} bars missing, not filled)" if result.gaps else ""
    print(f"{result.path}: {result.added} new candles, {result.total} in all{gap_note}")
    return 0


class _Progress:
    """A one-line bar on a terminal: ``[#####.....] 50%``."""

    def __init__(self, stream: object) -> None:
        self.stream = stream
        self.shown = False

    def update(self, done: int, total: int) -> None:
        share = 1.0 if total <= 0 else min(1.0, done / total)
        filled = int(share * 30)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}")  # type: ignore[attr-defined]
        self.stream.flush()  # type: ignore[attr-defined]
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")  # type: ignore[attr-defined]
