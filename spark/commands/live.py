"""``spark live``: run a paper-trading session in this terminal, a status line per closed candle.

Outside the service and its approvals: any params, no audit, no rate limit. The same session as the service runs
(`spark.market.session.LiveSession`): warm-up from the feed's history, the engine re-run per closed candle, fills by
the engine's rules; its evidence goes to ``--evidence-dir`` (default ``SPARK_EVIDENCE_DIR``, ``evidence/live/<id>/``)
unless ``--no-evidence``, so a backtest over its recorded candles reproduces it. Ctrl-C (or ``--max-candles``) stops
it; the feed ending stops it too. Exit 0 when it stopped, 1 when it failed, 2 for bad input (nothing started).

    spark live --pair BTCTRY --timeframe 1m --strategy sma_cross [--exchange replay --file F.csv --speed 600]
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import trio

from spark.commands.backtest import _pairs
from spark.config import Settings, load_settings
from spark.engine import Options, validate_params
from spark.engine.options import FILL_MODES
from spark.errors import InputError, SparkError
from spark.ids import new_session_id, wall_ms
from spark.market import session_store as files
from spark.market.paper import default_warmup
from spark.market.session import LiveSession
from spark.market.sources import check_market, default_exchange, open_source
from spark.plugin.manager import build_plugins, scan_plugins
from spark.plugin.request import OPTION_FIELDS

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live", help="paper-trade a strategy on live candles in this terminal", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--pair", required=True, help="the market, e.g. BTCTRY")
    p.add_argument("--timeframe", required=True, help="candle length, e.g. 1m, 15m, 1h")
    p.add_argument("--strategy", default="sma_cross", help="strategy name or alias (default: sma_cross)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="a strategy parameter (repeatable)")
    p.add_argument("--exchange", help="the feed: btcturk or replay (default: live_exchange, else btcturk if installed)")
    p.add_argument("--file", type=Path, help="replay: the CSV file to play (default: <data dir>/<PAIR>-<tf>.csv)")
    p.add_argument("--speed", type=float, help="replay: times faster than real time (default: replay_speed)")
    p.add_argument("--warmup", type=int, help="warm-up candles from history (default: the strategy's lookback)")
    p.add_argument("--max-candles", type=int, help="stop after this many live candles")
    p.add_argument("--cash", type=float, default=10_000.0, help="starting cash (default: 10000)")
    p.add_argument("--fee", type=float, default=0.0, help="commission as a rate of traded value, e.g. 0.001")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage against the trader, basis points")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=float, help="units per order (default: 1)")
    size.add_argument("--size-pct", type=float, help="fraction (0, 1] of equity per order")
    p.add_argument("--fill", choices=FILL_MODES, default="next_open", help="next_open (default) or close")
    p.add_argument("--no-evidence", action="store_true", help="record nothing")
    p.add_argument("--evidence-dir", type=Path, help="where evidence goes (default: SPARK_EVIDENCE_DIR or ./evidence)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.speed is not None:
        if not args.speed > 0:
            raise InputError("--speed must be > 0", field="speed")
        settings = dataclasses.replace(settings, replay_speed=args.speed)
    if args.evidence_dir is not None:
        settings = dataclasses.replace(settings, evidence_dir=args.evidence_dir)
    if args.max_candles is not None and args.max_candles < 1:
        raise InputError("--max-candles must be at least 1", field="max_candles")
    return trio.run(_session, args, settings)


async def _session(args: argparse.Namespace, settings: Settings) -> int:
    plugins = build_plugins(scan_plugins(settings.disabled_plugins))
    spec = plugins.strategy(args.strategy)
    params = validate_params(spec.params, _pairs(args.param, "--param", "params"), check=spec.check)
    options = Options(
        cash=args.cash, fee=args.fee, slippage_bps=args.slippage_bps, size=args.size, size_pct=args.size_pct,
        fill=args.fill,
    )  # fmt: skip
    exchange, pair, timeframe = check_market(args.exchange or default_exchange(settings), args.pair, args.timeframe)
    if args.file is not None and exchange != "replay":
        raise InputError("--file is for --exchange replay", field="file")
    if args.file is not None and not args.file.is_file():
        raise InputError(f"no such file: {args.file}", field="file")
    warmup = default_warmup(spec, params) if args.warmup is None else args.warmup
    if not 0 <= warmup < settings.live_max_bars:
        raise InputError(f"--warmup must be 0..{settings.live_max_bars - 1}", field="warmup")
    opened = await open_source(settings, exchange, pair, timeframe, file=args.file)
    started = wall_ms()
    wire = {wire: getattr(options, name) for wire, name in OPTION_FIELDS.items()}
    doc: dict[str, Any] = {
        "id": new_session_id(started), "status": "running", "exchange": exchange, "pair": pair,
        "timeframe": timeframe, "strategy": spec.name, "params": params, "options": wire, "warmupBars": warmup,
        "paramSet": None, "override": {"reason": "spark live: outside the service's approvals", "user": "terminal"},
        "startedAt": started, "stoppedAt": None, "error": None, "startedBy": "terminal", "feed": None,
        "source": opened.state,
    }  # fmt: skip
    evidence = None if args.no_evidence else settings.evidence_dir
    if evidence is not None:
        try:
            await trio.to_thread.run_sync(files.create_session, evidence, doc)
        except OSError as exc:
            raise SparkError(f"cannot write evidence in {evidence}: {exc.strerror or exc}") from None
    printer = _Printer(sys.stdout, pair, timeframe, args.max_candles)
    session = LiveSession(
        doc, spec=spec, options=options, opened=opened, evidence_dir=evidence, publish=printer.publish,
        max_bars=settings.live_max_bars, now_ms=wall_ms,
    )  # fmt: skip
    print(f"live session {doc['id']}: {spec.name} {params} on {exchange} {pair} {timeframe}", flush=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_interrupt, nursery.cancel_scope)
        printer.cancel = nursery.cancel_scope
        await session.run(resume=False)
        nursery.cancel_scope.cancel()
    if session.doc["status"] == "running":  # Ctrl-C or --max-candles
        with trio.CancelScope(shield=True):
            why = "stopped in the terminal" if not printer.enough else f"--max-candles {args.max_candles} reached"
            await session.finish("stopped", why)
    status, error = session.doc["status"], session.doc.get("error")
    where = f"; evidence in {files.session_dir(evidence, doc['id'])}" if evidence is not None else ""
    print(f"session {status}: {error or ''}{where}", flush=True)
    return 0 if status == "stopped" else 1


async def _stop_on_interrupt(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


class _Printer:
    """A status line per closed candle (a warm-up in one line), a line per feed change."""

    def __init__(self, out: TextIO, pair: str, timeframe: str, max_candles: int | None) -> None:
        self.out, self.pair, self.timeframe, self.max_candles = out, pair, timeframe, max_candles
        self.live_candles = 0
        self.first = True
        self.feed: str | None = None
        self.enough = False
        self.cancel: trio.CancelScope | None = None

    async def publish(self, event: dict[str, Any]) -> None:
        session = event["session"]
        feed = (session.get("feed") or {}).get("state")
        if feed != self.feed and feed is not None:
            self.feed = feed
            self.out.write(f"feed {feed}: {(session.get('feed') or {}).get('detail', '')}\n")
        candles = event["candles"]
        if candles and self.first:
            self.first = False
            self.out.write(f"warm-up: {len(candles)} candles, the last at {_when(candles[-1][0])}\n")
        elif candles:
            for candle in candles:
                self.live_candles += 1
                self.out.write(self.line(candle, session, event["fills"]) + "\n")
            if self.max_candles is not None and self.live_candles >= self.max_candles and self.cancel is not None:
                self.enough = True
                self.cancel.cancel()
        self.out.flush()

    def line(self, candle: list[Any], session: dict[str, Any], fills: list[dict[str, Any]]) -> str:
        stats = session.get("stats") or {}
        equity = session.get("equity")
        done = " ".join(f"{f['side']} {f['qty']:g} @ {f['price']:g}" for f in fills)
        return (
            f"{_when(candle[0])} {self.pair} {self.timeframe} close {candle[4]:<12g} "
            f"pos {session.get('position', 0):+g}  equity {equity if equity is None else round(equity, 2)}  "
            f"trades {stats.get('totalTrades', 0)}  feed {self.feed or '-'}"
            + (f"  rejected {stats['rejectedOrders']}" if stats.get("rejectedOrders") else "")
            + (f"  | {done}" if done else "")
        )


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
