"""``spark backtest``: run one backtest from the command line, print its report (or its JSON), write evidence.

Everything is validated before the run (strategy, params, feed and its args, options); bad input prints one line
and exits non-zero with nothing written. After a run, evidence goes to ``--evidence-dir`` (default
``SPARK_EVIDENCE_DIR`` or ``./evidence``): the result and its compact forms and the run record; the trades and equity
as CSV files too with ``--csv``; nothing with ``--no-evidence``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spark.config import load_settings
from spark.engine import BacktestResult, Gates, Options, validate_params
from spark.engine.options import FILL_MODES
from spark.errors import ParamError, SparkError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins, build_plugins, scan_plugins
from spark.plugin.request import settings_gates
from spark.service.evidence import write_artifacts, write_result, write_run_record
from spark.service.record import FeedRef, PluginsUsed, RunRecord
from spark.service.runner import run_backtest

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest", help="run one backtest, print its report, write its evidence", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--data",
        default="default",
        metavar="default|synthetic|FEED|FILE.csv",
        help="a feed name, or a CSV file to read with the csv feed (default: the embedded GOOG data)",
    )
    p.add_argument(
        "--feed-arg",
        action="append",
        default=[],
        metavar="K=V",
        help="a feed argument, e.g. bars=1000000 for synthetic (repeatable; see `spark plugins`)",
    )
    p.add_argument("--strategy", default="sma_cross", help="strategy name or alias (default: sma_cross)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="a strategy parameter, e.g. fast=10 (repeatable; defaults fill the rest)",
    )
    p.add_argument("--cash", type=float, default=10_000.0, help="starting cash (default: 10000)")
    p.add_argument("--fee", type=float, default=0.0, help="commission as a rate of traded value, e.g. 0.001")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage against the trader, basis points")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=float, help="units per order (default: 1)")
    size.add_argument("--size-pct", type=float, help="fraction (0, 1] of equity per order")
    p.add_argument(
        "--fill",
        choices=FILL_MODES,
        default="next_open",
        help="market orders fill at the next bar's open (default) or at the same bar's close",
    )
    p.add_argument(
        "--periods-per-year",
        type=float,
        help="annualisation basis (default: from the timeframe, 24x7), e.g. 252 for a stock exchange",
    )
    p.add_argument("--margin", action="store_true", help="allow orders that need more cash than the account holds")
    add_gate_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result JSON instead of the report")
    p.add_argument("--csv", action="store_true", help="also write the trades and equity as CSV files beside it")
    p.add_argument("--no-evidence", action="store_true", help="write nothing: print the report (or --json) only")
    p.add_argument("--evidence-dir", type=Path, help="where evidence goes (default: SPARK_EVIDENCE_DIR or ./evidence)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    plugins = build_plugins(scan_plugins(settings.disabled_plugins))
    spec = plugins.strategy(args.strategy)
    params = validate_params(spec.params, _pairs(args.param, "--param", "params"), check=spec.check)
    options = Options(
        cash=args.cash,
        fee=args.fee,
        slippage_bps=args.slippage_bps,
        size=args.size,
        size_pct=args.size_pct,
        fill=args.fill,
        periods_per_year=args.periods_per_year,
        margin=args.margin,
        gates=gates_of(args, settings.risk_gates),
    )
    feed_name, feed_args = _feed(plugins, args.data, _pairs(args.feed_arg, "--feed-arg", "feed.args"))
    feed = plugins.feed(feed_name)
    candles = feed.load(feed_args, FeedEnv(data_dir=settings.data_dir, restricted=False))
    result = run_backtest(
        candles,
        spec,
        params,
        cash=options.cash,
        fee=options.fee,
        slippage_bps=options.slippage_bps,
        size=options.size,
        size_pct=options.size_pct,
        fill=options.fill,
        periods_per_year=options.periods_per_year,
        margin=options.margin,
        gates=options.gates,
    )
    finished_at = int(time.time() * 1000)
    evidence_dir = args.evidence_dir or settings.evidence_dir
    record = RunRecord(
        id=result.id,
        status="done",
        pair=candles.symbol,
        timeframe=candles.timeframe,
        strategy=spec.name,
        params=params,
        feed=FeedRef(name=feed.name, args=feed_args),
        options=options.to_json(),
        impl="engine",
        started_at=result.metadata["started_at"],
        finished_at=finished_at,
        progress=1.0,
        stats=dict(result.report.stats),
        plugins=PluginsUsed(generation=1, names=tuple(plugins.names)),
    )
    path: Path | None = None
    if not args.no_evidence:
        try:
            path = write_result(evidence_dir, result)
            if args.csv:
                write_artifacts(evidence_dir, result)
            write_run_record(evidence_dir, record.to_wire())
        except OSError as exc:
            raise SparkError(f"cannot write evidence in {evidence_dir}: {exc.strerror or exc}") from None
    if args.json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        sys.stdout.write(report_text(result, feed.name, path))
    return 0


def _pairs(items: list[str], flag: str, prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParamError(f"{flag} expects NAME=VALUE, got {item!r}", field=prefix)
        if name in out:
            raise ParamError(f"{flag} {name} given twice", field=f"{prefix}.{name}")
        out[name] = value
    return out


def add_gate_arguments(p: argparse.ArgumentParser) -> None:
    """``--gate NAME=VALUE[:MODE]`` (repeatable) or ``--gates JSON``: `spark backtest`, `sweep` and `walkforward`."""
    gates = p.add_mutually_exclusive_group()
    gates.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="NAME=VALUE[:MODE]",
        help="a risk gate, e.g. maxOrderNotional=1000, longOnly=true, maxDrawdownPct=10:log, onViolation=log "
        "(repeatable; default: the risk_gates setting)",
    )
    gates.add_argument("--gates", metavar="JSON", help="risk gates as options.gates JSON, e.g. '{\"longOnly\": true}'")


def gates_of(args: argparse.Namespace, default: str) -> Gates | None:
    """``--gates JSON`` or the ``--gate`` pairs (a value is read as JSON: numbers, true; ``:deny``/``:log`` after it
    sets that gate's mode); neither: the ``risk_gates`` setting."""
    if args.gates is not None:
        try:
            raw = json.loads(args.gates)
        except ValueError as exc:
            raise ParamError(f"--gates must be a JSON object: {exc}", field="options.gates") from None
        return Gates.from_wire(raw)
    if not args.gate:
        return settings_gates(default)
    doc: dict[str, Any] = {}
    for name, text in _pairs(args.gate, "--gate", "options.gates").items():
        value, mode = text, None
        head, sep, tail = text.rpartition(":")
        if sep and tail in ("deny", "log"):
            value, mode = head, tail
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value  # a word: onViolation=log, or a bad value the gate names
        doc[name] = parsed if mode is None else {"value": parsed, "onViolation": mode}
    return Gates.from_wire(doc)


def _feed(plugins: Plugins, data: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``--data``: a registered feed's name, else a CSV file path for the csv feed."""
    if data in plugins.feeds:
        name = data
    else:
        if "path" in args:
            raise ParamError("give the CSV file with --data, not --feed-arg path=", field="feed.args.path")
        name, args = "csv", {"path": data, **args}
    spec = plugins.feed(name)
    return name, validate_params(spec.params, args, prefix="feed.args")


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):  # bool too
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def report_text(result: BacktestResult, feed: str, evidence: Path | None, last_trades: int = 5) -> str:
    """The terminal report: run, data, options, stats, the last trades, fingerprint, evidence path."""
    meta, stats = result.metadata, result.report.stats
    opts = meta["options"]
    params = ", ".join(f"{k}={v}" for k, v in meta["params"].items()) or "no params"
    sizing = (
        f"{opts['size_pct']:g} of equity"
        if opts["size_pct"] is not None
        else f"{opts['size'] if opts['size'] is not None else 1:g} unit(s)"
    )
    lines = [
        f"Spark backtest {result.id}",
        f"  strategy    {meta['strategy']['name']} v{meta['strategy']['version']} ({params})",
        f"  data        {meta['symbol'] or '?'} {meta['timeframe'] or '?'}, {meta['candle_count']} bars, "
        f"{_when(meta['start_time'])} .. {_when(meta['end_time'])} UTC (feed {feed})",
        f"  options     cash {opts['cash']:g}, fee {opts['fee']:g}, slippage {opts['slippage_bps']:g} bps, "
        f"size {sizing}, fill {opts['fill']}{', margin' if opts['margin'] else ''}",
    ]
    if opts.get("gates"):
        listed = ", ".join(f"{k} {g['value']} ({g['onViolation']})" for k, g in opts["gates"].items())
        lines.append(f"  gates       {listed}")
    lines += [
        "",
        "Stats",
    ]
    width = max(len(k) for k in stats)
    lines += [f"  {key:<{width}}  {_num(value)}" for key, value in stats.items() if key != "annualisation"]
    lines.append(f"  {'annualisation':<{width}}  {stats['annualisation']}")
    trades = result.report.trades
    lines += ["", f"Trades: {stats['total_trades']} ({stats['closed_trades']} closed, {stats['open_trades']} open)"]
    if len(trades):
        lines.append(
            f"  {'#':>5}  {'side':<5}  {'qty':>10}  {'entry':<16}  {'price':>12}  {'exit':<16}  "
            f"{'price':>12}  {'pnl':>12}"
        )
        shown = trades[max(0, len(trades) - last_trades) :]
        if len(trades) > last_trades:
            lines.append(f"  ... {len(trades) - last_trades} earlier trades in the evidence CSV")
        for t in shown:
            exit_price = "open" if t.exit_price is None else f"{t.exit_price:.6g}"
            lines.append(
                f"  {t.id:>5}  {t.side:<5}  {t.qty:>10.6g}  {_when(t.entry_ts):<16}  "
                f"{t.entry_price:>12.6g}  {_when(t.exit_ts):<16}  {exit_price:>12}  {t.pnl:>12.4f}"
            )
    denied = result.report.denied
    if denied is not None:
        lines += [
            "",
            f"Denied: {stats['denied_orders']} orders denied, {stats['logged_violations']} logged by the gates",
        ]
        for d in denied[max(0, len(denied) - last_trades) :]:
            lines.append(f"  bar {d.bar:>7}  {_when(d.ts):<16}  {d.action:<4}  {d.gate:<19}  {d.reason}")
        states = result.report.gate_states
        if states:
            lines.append("  account: " + ", ".join(f"{g.to_state} at bar {g.bar}" for g in states))
    lines += [
        "",
        f"fingerprint   {meta['fingerprint']}",
        f"orders hash   {meta['orders_hash']}",
        f"evidence      {evidence if evidence is not None else 'none written (--no-evidence)'}",
        "",
    ]
    return "\n".join(lines)
