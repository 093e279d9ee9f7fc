"""``spark sweep``: many parameter sets of one strategy, a live progress bar on a terminal, a ranked table, and
the best set's full backtest written as a normal run.

    spark sweep --grid fast=5:50:5 --grid slow=20:200:10 --constraint min_trades=10 --top 20
    spark sweep --random 500 --grid fast=2:50 --grid slow=20:200 --seed 7 --objective min:max_drawdown_pct
    spark sweep --tpe 200 --grid fast=2:50 --grid slow=20:200          (resumable: spark sweep --resume sw-...)

``--grid NAME=a:b:step`` (both ends included; or a comma list) is the grid; with ``--random N`` / ``--tpe N`` the
same flags give the ranges to sample from. Bad input: one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from spark.commands.backtest import _feed, _pairs, add_gate_arguments, gates_of, report_text
from spark.config import Settings, load_settings
from spark.engine.options import FILL_MODES
from spark.errors import ParamError, SparkError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins, build_plugins, scan_plugins
from spark.research import evidence
from spark.research.executors import make_executor
from spark.research.sweep import run_sweep
from spark.service.evidence import write_result, write_run_record
from spark.service.record import FeedRef, PluginsUsed, RunRecord
from spark.service.runner import run_backtest

__all__ = ["Bar", "add_common", "add_parser", "load_inputs", "run"]

OPTION_FLAGS = ("cash", "fee", "slippage_bps", "size", "size_pct", "fill", "periods_per_year", "margin")


def add_common(p: argparse.ArgumentParser) -> None:
    """The flags `spark sweep` and `spark walkforward` share."""
    p.add_argument(
        "--data",
        default="default",
        metavar="default|synthetic|FEED|FILE.csv",
        help="a feed name, or a CSV file (default: the embedded GOOG data)",
    )
    p.add_argument("--feed-arg", action="append", default=[], metavar="K=V", help="a feed argument (repeatable)")
    p.add_argument("--strategy", default="sma_cross", help="strategy name or alias (default: sma_cross)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=a:b:step",
        help="a parameter's values (a:b:step, both ends included, or a,b,c); ranges with --random/--tpe",
    )
    p.add_argument("--random", type=int, metavar="N", help="N sets drawn at random from the --grid ranges")
    p.add_argument("--seed", type=int, default=0, help="seed of --random and --tpe (default: 0)")
    p.add_argument("--objective", default="sharpe", help="the stat to rank by; min:STAT / max:STAT (default: sharpe)")
    p.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="min_STAT=V",
        help="a bound a set must meet to rank first, e.g. min_trades=10 (repeatable)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray", "inline"),
        help="local process pool (default), ray (SPARK_RAY_ADDRESS / --ray-address), inline",
    )
    p.add_argument("--workers", type=int, help="local pool processes (default: one per CPU)")
    p.add_argument("--ray-address", help="auto or ray://host:port (default: SPARK_RAY_ADDRESS)")
    p.add_argument("--chunk-size", type=int, help="parameter sets per task (default: a few tasks per worker)")
    p.add_argument("--cash", type=float, default=10_000.0, help="starting cash (default: 10000)")
    p.add_argument("--fee", type=float, default=0.0, help="commission as a rate of traded value")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage against the trader, basis points")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=float, help="units per order (default: 1)")
    size.add_argument("--size-pct", type=float, help="fraction (0, 1] of equity per order")
    p.add_argument("--fill", choices=FILL_MODES, default="next_open", help="next_open (default) or close")
    p.add_argument("--periods-per-year", type=float, help="annualisation basis (default: from the timeframe)")
    p.add_argument("--margin", action="store_true", help="allow orders that need more cash than the account holds")
    add_gate_arguments(p)  # a gated sweep takes the generic path (docs/risk-gates.md)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-evidence", action="store_true", help="write nothing")
    p.add_argument("--evidence-dir", type=Path, help="where evidence goes (default: SPARK_EVIDENCE_DIR)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="sweep a strategy's parameters, rank the sets, backtest the best",
        description=__doc__.split("\n\n")[0],
    )
    add_common(p)
    p.add_argument("--tpe", type=int, metavar="N", help="N sets proposed by TPE (optuna) from the --grid ranges")
    p.add_argument("--batch-size", type=int, default=32, help="TPE trials asked per round (default: 32)")
    p.add_argument("--top", type=int, default=20, help="rows of the ranked table (default: 20)")
    p.add_argument("--resume", metavar="ID", help="continue the sweep ID from its evidence (its own flags)")
    p.set_defaults(func=run)


class Bar:
    """A one-line progress bar on stderr (sets done, rate, time left), drawn only on a terminal."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label, self.t0, self.last = label, time.monotonic(), 0.0

    def __call__(self, done: int, total: int, best: Any) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        left = (total - done) / rate if rate > 0 else 0.0
        width = 30
        fill = int(width * done / max(total, 1))
        value = "" if best is None else f"  best {best['value']:.4g}"
        self.stream.write(
            f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {done}/{total} sets  "
            f"{rate:,.0f} sets/s  {left:,.0f}s left{value}   "
        )
        self.stream.flush()

    def end(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ParamError(f"{where}: {text!r} is not a number", field=where) from None


def parse_grid(items: list[str]) -> dict[str, Any]:
    """``--grid fast=5:50:5`` / ``--grid k=1.5,2,2.5`` as a grid (or space) mapping."""
    out: dict[str, Any] = {}
    for name, value in _pairs(items, "--grid", "grid").items():
        out[name] = [v.strip() for v in value.split(",")] if "," in value else value
        if isinstance(out[name], list):
            out[name] = [_coerce(v) for v in out[name]]
    return out


def _coerce(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_constraints(items: list[str]) -> dict[str, float]:
    return {k: _number(v, f"constraints.{k}") for k, v in _pairs(items, "--constraint", "constraints").items()}


def load_inputs(args: argparse.Namespace) -> tuple[Settings, Plugins, Any, Any, dict[str, Any], dict[str, Any]]:
    """Settings, plugins, the strategy, the candles, the feed reference and the run options, all checked."""
    settings = load_settings()
    plugins = build_plugins(scan_plugins(settings.disabled_plugins))
    spec = plugins.strategy(args.strategy)
    feed_name, feed_args = _feed(plugins, args.data, _pairs(args.feed_arg, "--feed-arg", "feed.args"))
    options = {name: getattr(args, name) for name in OPTION_FLAGS}
    for name in ("size", "size_pct", "periods_per_year"):
        if options[name] is None:
            del options[name]
    gates = gates_of(args, settings.risk_gates)
    if gates is not None:
        options["gates"] = gates
    candles = plugins.feed(feed_name).load(feed_args, FeedEnv(data_dir=settings.data_dir, restricted=False))
    return settings, plugins, spec, candles, {"name": feed_name, "args": feed_args}, options


def executor_for(args: argparse.Namespace, settings: Settings) -> Any:
    """--executor, or Ray when an address is configured, or None: the driver's choice (in this process for a
    small sweep, the local pool otherwise)."""
    address = args.ray_address or settings.ray_address or None
    if args.workers is not None and args.workers < 1:
        raise ParamError(f"--workers must be >= 1, got {args.workers}", field="workers")
    name = args.executor or ("ray" if address else None)
    if name is None:
        return None if args.workers is None else make_executor("local", workers=args.workers)
    return make_executor(name, workers=args.workers or settings.sweep_workers or None, ray_address=address)


def write_best_run(
    evidence_dir: Path,
    plugins: Plugins,
    spec: Any,
    candles: Any,
    params: dict[str, Any],
    feed: dict[str, Any],
    options: dict[str, Any],
) -> tuple[Any, Path]:
    """The best set's full backtest, written as a normal run (result + run record)."""
    result = run_backtest(candles, spec, params, plugins=plugins, **options)
    record = RunRecord(
        id=result.id,
        status="done",
        pair=candles.symbol,
        timeframe=candles.timeframe,
        strategy=spec.name,
        params=dict(result.metadata["params"]),
        feed=FeedRef(name=feed["name"], args=feed["args"]),
        options=result.metadata["options"],
        impl="engine",
        started_at=result.metadata["started_at"],
        finished_at=int(time.time() * 1000),
        progress=1.0,
        stats=dict(result.report.stats),
        plugins=PluginsUsed(generation=1, names=tuple(plugins.names)),
    )
    try:
        path = write_result(evidence_dir, result)
        write_run_record(evidence_dir, record.to_wire())
    except OSError as exc:
        raise SparkError(f"cannot write evidence in {evidence_dir}: {exc.strerror or exc}") from None
    return result, path


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def ranked_table(rows: list[dict[str, Any]], names: tuple[str, ...], stat: str) -> str:
    cols = ["rank", "index", *names, stat, "return_pct", "max_drawdown_pct", "total_trades"]
    cols = list(dict.fromkeys(cols))
    body = []
    for rank, row in enumerate(rows, 1):
        values = {"rank": rank, "index": row["index"], **row["params"], **row["stats"]}
        body.append([_cell(values.get(c)) for c in cols])
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines) + "\n"


def _resume_args(args: argparse.Namespace, evidence_dir: Path) -> str:
    """Take a sweep's own flags back from its evidence (``--resume ID``)."""
    folder = evidence.sweep_folder(evidence_dir, args.resume)
    if not (folder / evidence.SWEEP_JSON).exists():
        raise ParamError(f"--resume: no sweep {args.resume} in {evidence_dir}", field="resume")
    doc, _ = evidence.read_sweep(folder)
    ctx = doc.get("context") or {}
    args.strategy = doc["strategy"]
    spec = doc["spec"]
    args.objective = f"{spec['objective']['direction']}:{spec['objective']['stat']}"
    args.constraint = [f"{k}={v}" for k, v in spec.get("constraints", {}).items()]
    args.seed = doc.get("seeds", {}).get("seed", 0)
    feed = ctx.get("feed") or {"name": "default", "args": {}}
    args.data = feed["name"] if feed["name"] != "csv" else feed["args"]["path"]
    args.feed_arg = [f"{k}={v}" for k, v in feed["args"].items() if k != "path" or feed["name"] != "csv"]
    args.gate, args.gates = [], json.dumps({})  # the sweep's own gates (none: none, whatever the setting says)
    for name, value in spec.get("options", {}).items():
        if name == "gates":
            args.gates = json.dumps(value or {})
        else:
            setattr(args, name, value)
    args.random = args.tpe = None
    if spec["method"] == "grid":
        args.grid = [f"{k}={v if isinstance(v, str) else ','.join(map(str, v))}" for k, v in spec["grid"].items()]
    else:
        args.grid = [f"{k}={_range_text(v)}" for k, v in spec["space"].items()]
        setattr(args, spec["method"], spec["trials"])
    return args.resume


def _range_text(dim: dict[str, Any]) -> str:
    if "choices" in dim:
        return ",".join(map(str, dim["choices"]))
    step = dim.get("step")
    return f"{dim['low']}:{dim['high']}" + (f":{step}" if step else "")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    evidence_dir = args.evidence_dir or settings.evidence_dir
    sweep_id = _resume_args(args, evidence_dir) if args.resume else None
    if args.random is not None and args.tpe is not None:
        raise ParamError("give --random N or --tpe N, not both", field="method")
    if args.top < 0:
        raise ParamError(f"--top must be >= 0, got {args.top}", field="top")
    settings, plugins, spec, candles, feed, options = load_inputs(args)
    grid = parse_grid(args.grid)
    method = "tpe" if args.tpe is not None else "random" if args.random is not None else "grid"
    bar = Bar(f"sweep {spec.name}", sys.stderr)
    kwargs: dict[str, Any] = {"grid": grid} if method == "grid" else {"space": grid, "trials": args.tpe or args.random}
    result = run_sweep(
        candles,
        spec,
        method=method,
        seed=args.seed,
        objective=args.objective,
        constraints=parse_constraints(args.constraint),
        executor=executor_for(args, settings),
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        progress=bar,
        evidence_dir=None if args.no_evidence else evidence_dir,
        sweep_id=sweep_id,
        resume=bool(args.resume),
        plugins=plugins,
        max_sets=settings.sweep_max_sets,
        context={"feed": feed},
        **kwargs,
        **options,
    )
    bar.end()
    best_run = None
    if result.best is not None and not args.no_evidence:
        best_run, _ = write_best_run(evidence_dir, plugins, spec, candles, result.best["params"], feed, options)
    if args.json:
        doc = result.to_json(top=args.top)
        doc["bestRun"] = None if best_run is None else best_run.id
        sys.stdout.write(json.dumps(doc) + "\n")
        return 0
    out = sys.stdout
    out.write(
        f"Spark sweep {result.id}: {spec.name}, {method}, {len(result)} sets ({result.skipped} skipped), "
        f"{candles.symbol or '?'} {candles.timeframe or '?'} {len(candles)} bars, {result.meta['seconds']:.2f}s\n"
    )
    out.write(
        f"objective {result.objective.to_json()['direction']} {result.objective.stat}"
        f"{'' if not result.constraints else ', constraints ' + ', '.join(result.constraints)}\n\n"
    )
    out.write(ranked_table(result.top(args.top), result.param_names, result.objective.stat))
    if result.best is None:
        out.write("\nno set met the constraints with a defined objective\n")
    elif best_run is not None:
        out.write(f"\nbest set {result.best['params']}: backtest {best_run.id}\n")
        out.write(report_text(best_run, feed["name"], evidence_dir / "backtest" / f"{best_run.id}.json"))
    else:
        out.write(f"\nbest set {result.best['params']}\n")
    if not args.no_evidence:
        out.write(f"evidence      {evidence.sweep_folder(evidence_dir, result.id or '')}\n")
    return 0
