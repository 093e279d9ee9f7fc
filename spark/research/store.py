"""The drivers around a sweep body, for Python callers: a body checked and run, the evidence folders listed and
read, results paged and sorted, and sweeps cut off by a crash marked ``failed``/``interrupted``. The reading itself
(documents, columns, sort order, rows) is `spark.research.reads`, which the service reads through too.

A body is DESIGN's ``POST /api/sweeps`` shape, camelCase: ``{strategy, feed, options, grid | space, method, trials,
seed, objective, constraints, walkForward: {folds, mode, trainBars, testBars, purgeBars, embargoBars} | null}``
(the feed is the caller's to load: the service reads it in its worker). `check_body` validates everything that can
be known before running (a ParamError naming the field: a 400), `run_body` runs it with the driver API.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import Candles
from spark.engine.params import shown
from spark.engine.result import camel
from spark.errors import ParamError
from spark.ids import wall_ms
from spark.plugin.manager import Plugins
from spark.research import evidence
from spark.research.reads import columns, order_by, read_docs, row_of
from spark.research.result import SweepResult
from spark.research.sweep import Progress, run_sweep
from spark.research.walkforward import WalkForwardResult, run_walkforward

__all__ = ["BODY_FIELDS", "check_body", "list_sweeps", "mark_interrupted", "read_results", "run_body"]

BODY_FIELDS = (
    "strategy",
    "feed",
    "options",
    "grid",
    "space",
    "method",
    "trials",
    "seed",
    "objective",
    "constraints",
    "walkForward",
)
_WF_FIELDS = {
    "folds": "folds",
    "mode": "mode",
    "trainBars": "train_bars",
    "testBars": "test_bars",
    "purgeBars": "purge_bars",
    "embargoBars": "embargo_bars",
}
_OPTIONS = {
    "cash": "cash",
    "fee": "fee",
    "slippageBps": "slippage_bps",
    "size": "size",
    "sizePct": "size_pct",
    "fill": "fill",
    "periodsPerYear": "periods_per_year",
    "margin": "margin",
    "gates": "gates",
}


def check_body(body: Any) -> dict[str, Any]:
    """The body as driver keyword arguments (``walk_forward`` None or a dict); ParamError on an unknown field or a
    wrong shape. Values are checked again, fully, by the driver before anything runs."""
    if not isinstance(body, Mapping):
        raise ParamError(f"the body must be an object, got {shown(body)}", field=None)
    for key in body:
        if key not in BODY_FIELDS:
            raise ParamError(f"unknown field {shown(key)} (allowed: {', '.join(BODY_FIELDS)})", field=str(key))
    out: dict[str, Any] = {"strategy": body.get("strategy", "sma_cross")}
    for key in ("grid", "space", "method", "trials", "objective", "constraints"):
        if body.get(key) is not None:
            out[key] = body[key]
    out["seed"] = body.get("seed", 0)
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise ParamError("options must be an object", field="options")
    for key, value in options.items():
        if key not in _OPTIONS:
            raise ParamError(
                f"unknown field options.{shown(key)} (allowed: {', '.join(_OPTIONS)})", field=f"options.{key}"
            )
        if value is not None:
            out[_OPTIONS[key]] = value
    wf = body.get("walkForward")
    if wf is not None:
        if not isinstance(wf, Mapping):
            raise ParamError("walkForward must be an object or null", field="walkForward")
        walk = {}
        for key, value in wf.items():
            if key not in _WF_FIELDS:
                raise ParamError(
                    f"unknown field walkForward.{shown(key)} (allowed: {', '.join(_WF_FIELDS)})",
                    field=f"walkForward.{key}",
                )
            if value is not None:
                walk[_WF_FIELDS[key]] = value
        out["walk_forward"] = walk
    else:
        out["walk_forward"] = None
    if out.get("method") == "tpe" and wf is not None:
        raise ParamError("a walk-forward takes method grid or random", field="method")
    return out


def run_body(
    candles: Candles,
    body: Mapping[str, Any],
    *,
    sweep_id: str,
    evidence_dir: Path,
    executor: Any = None,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    plugins: Plugins | None = None,
    max_sets: int = 1_000_000,
    context: Mapping[str, Any] | None = None,
) -> SweepResult | WalkForwardResult:
    """Run a checked body (`check_body`) as ``sweep_id`` (``sw-``: a sweep, ``wf-``: a walk-forward) into
    ``evidence_dir``; raises what the drivers raise (ParamError before anything is written, Cancelled)."""
    kwargs = dict(check_body(body))
    walk = kwargs.pop("walk_forward")
    strategy = kwargs.pop("strategy")
    common = {
        "executor": executor,
        "workers": workers,
        "progress": progress,
        "cancel": cancel,
        "evidence_dir": evidence_dir,
        "sweep_id": sweep_id,
        "plugins": plugins,
        "max_sets": max_sets,
        "context": context,
    }
    if walk is not None or sweep_id.startswith("wf-"):
        if not sweep_id.startswith("wf-"):
            raise ParamError("a walk-forward's id starts with wf-", field="id")
        return run_walkforward(candles, strategy, **(walk or {}), **kwargs, **common)
    return run_sweep(candles, strategy, **kwargs, **common)


def list_sweeps(evidence_dir: Path) -> list[dict[str, Any]]:
    """Every sweep's ``sweep.json`` (`reads.read_docs`, without its top rows and walk-forward report), newest
    first."""
    docs = read_docs(Path(evidence_dir) / "sweeps")
    out = [{k: v for k, v in doc.items() if k not in ("top", "result")} for doc in docs]
    return sorted(out, key=lambda d: (d.get("startedAt") or 0, d.get("id", "")), reverse=True)


def read_results(folder: Path, *, sort: str = "", limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """A page of ``results.npy`` as rows ``{index, params, stats}`` (camelCase stats), sorted by a stat
    (``-sharpe``: descending; NaN last either way) or by index; ``total`` rows in all."""
    _, table = evidence.read_sweep(folder)
    if table is None:
        return {"rows": [], "total": 0}
    names = table.dtype.names or ()  # any column, by its name or camelCase
    key = sort.lstrip("-")
    if key and key not in names:
        snake = {camel(n): n for n in names}
        key = snake.get(key, "")
        if not key:
            raise ParamError(f"sort: unknown column {shown(sort)}", field="sort")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 10_000:
        raise ParamError("limit must be a whole number in 0..10000", field="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ParamError("offset must be a whole number >= 0", field="offset")
    order = order_by(table, key, sort.startswith("-")) if key else np.arange(len(table))
    params, stats = columns(table)
    rows = [row_of(table, int(i), params, stats) for i in order[offset : offset + limit]]
    return {"rows": rows, "total": len(table)}


def mark_interrupted(evidence_dir: Path) -> list[str]:
    """At start-up: every sweep still ``running`` (its process is gone) becomes ``failed``, ``interrupted``;
    the ids changed."""
    changed = []
    for doc in list_sweeps(evidence_dir):
        if doc.get("status") == "running":
            folder = evidence.sweep_folder(evidence_dir, doc["id"])
            full, _ = evidence.read_sweep(folder, table=False)
            full.update(status="failed", error="interrupted", finishedAt=wall_ms())
            evidence.write_json(folder, full)
            changed.append(doc["id"])
    return changed
