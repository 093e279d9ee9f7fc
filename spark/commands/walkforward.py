"""``spark walkforward``: walk-forward validation; prints the fold table and the out-of-sample line.

    spark walkforward --grid fast=5:50:5 --grid slow=20:200:10 --folds 5 --mode rolling --constraint min_trades=5

Per fold the train window is swept and the pick run once on the test window (warmed up, purged by at least the
strategy's warm-up). Evidence: ``evidence/sweeps/wf-.../`` (the report the promotion gates read). Bad input (a
fold without enough bars, a bad flag): one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from spark.commands.sweep import Bar, add_common, executor_for, load_inputs, parse_constraints, parse_grid
from spark.errors import ParamError
from spark.research import evidence
from spark.research.walkforward import run_walkforward

__all__ = ["add_parser", "fold_table", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "walkforward",
        help="walk-forward validation: sweep each train window, test the pick",
        description=__doc__.split("\n\n")[0],
    )
    add_common(p)
    p.add_argument("--folds", type=int, help="number of folds (default: 5, or as many as fit --train/--test-bars)")
    p.add_argument(
        "--mode", choices=("rolling", "anchored"), default="rolling", help="train windows (default: rolling)"
    )
    p.add_argument("--train-bars", type=int, help="bars per train window (rolling; the first one when anchored)")
    p.add_argument("--test-bars", type=int, help="bars per test window")
    p.add_argument("--purge-bars", default="auto", help="bars between train and test (default: auto = the warm-up)")
    p.add_argument("--embargo-bars", type=int, default=0, help="bars between consecutive test windows (default: 0)")
    p.set_defaults(func=run)


def _cell(value: Any, fmt: str = ".3f") -> str:
    if value is None:
        return "n/a"
    return format(value, fmt) if isinstance(value, float) else str(value)


def fold_table(folds: list[dict[str, Any]], stat: str) -> str:
    head = ["fold", "train", "test", "params", f"IS {stat}", f"OOS {stat}", "OOS return %", "OOS trades", "note"]
    rows = []
    for f in folds:
        ins, oos = f["in_sample"] or {}, f["out_of_sample"] or {}
        params = "-" if f["params"] is None else " ".join(f"{k}={v}" for k, v in f["params"].items())
        rows.append(
            [
                str(f["fold"]),
                f"{f['train'][0]}..{f['train'][1]}",
                f"{f['test'][0]}..{f['test'][1]}",
                params,
                _cell(ins.get(stat)),
                _cell(oos.get(stat)),
                _cell(oos.get("return_pct"), ".2f"),
                _cell(oos.get("total_trades")),
                f["warning"] or "",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    purge: Any = args.purge_bars
    if purge != "auto":
        try:
            purge = int(purge)
        except ValueError:
            raise ParamError(
                f"--purge-bars must be auto or a whole number, got {purge!r}", field="walkForward.purgeBars"
            ) from None
    settings, plugins, spec, candles, feed, options = load_inputs(args)
    grid = parse_grid(args.grid)
    evidence_dir = args.evidence_dir or settings.evidence_dir
    kwargs: dict[str, Any] = {"grid": grid} if args.random is None else {"space": grid, "trials": args.random}
    bar = Bar(f"walk-forward {spec.name}", sys.stderr)
    wf = run_walkforward(
        candles,
        spec,
        method="grid" if args.random is None else "random",
        seed=args.seed,
        objective=args.objective,
        constraints=parse_constraints(args.constraint),
        folds=args.folds,
        mode=args.mode,
        train_bars=args.train_bars,
        test_bars=args.test_bars,
        purge_bars=purge,
        embargo_bars=args.embargo_bars,
        executor=executor_for(args, settings),
        chunk_size=args.chunk_size,
        progress=bar,
        evidence_dir=None if args.no_evidence else evidence_dir,
        plugins=plugins,
        max_sets=settings.sweep_max_sets,
        context={"feed": feed},
        **kwargs,
        **options,
    )
    bar.end()
    if args.json:
        sys.stdout.write(json.dumps(wf.to_json()) + "\n")
        return 0
    out = sys.stdout
    out.write(
        f"Spark walk-forward {wf.id}: {spec.name}, {wf.mode}, {len(wf.folds)} folds, purge {wf.purge_bars}, "
        f"embargo {wf.embargo_bars}, {wf.trials} sets per fold, {candles.symbol or '?'} {len(candles)} bars\n\n"
    )
    out.write(fold_table(wf.folds, wf.objective.stat))
    out.write("\n" + wf.line() + "\n")
    out.write(f"final choice  {wf.final['params']} (window {wf.final['window'][0]}..{wf.final['window'][1]})\n")
    if not args.no_evidence and wf.id:
        out.write(f"evidence      {evidence.sweep_folder(evidence_dir, wf.id)}\n")
    return 0
