"""Reading sweeps back from their evidence folders (blocking: call these in worker threads), for the service
(`spark.actors.sweeps`, `spark.actors.sweep_desk`) and the Python side (`spark.research.store`): the documents, a
summary of one, its detail (with a walk-forward's equity curves) and one sorted page of its results.

A page is sorted by any stat (camelCase, as on the wire), parameter or ``index``; ``-`` first is descending,
undefined values (NaN) sort last either way, ties by index (`order_by`). Without ``sort`` the order is the sweep's
ranking: rows meeting the constraints first, best objective first. ``results.npy`` is memory-mapped, so a page of a
million-row table reads the sort column and the page, not the whole file. A row is ``{index, params, stats}``
(`row_of`), stats camelCase, undefined ones None.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine.result import camel
from spark.engine.sweep import INT_STATS, STATS
from spark.errors import InputError
from spark.research import evidence
from spark.research.result import Objective, parse_constraints

__all__ = ["MAX_POINTS", "columns", "detail", "order_by", "read_docs", "results_page", "row_of", "summary_of"]

MAX_POINTS = 2000
_OOS, _IS = "oos_equity.npy", "is_equity.npy"


def read_docs(folder: Path) -> list[dict[str, Any]]:
    """Every readable ``sweeps/<id>/sweep.json`` (a folder whose name is not a sweep id, or whose document does not
    read, is left alone)."""
    docs = []
    if not folder.is_dir():
        return docs
    for child in sorted(folder.iterdir()):
        if not evidence.SWEEP_ID.fullmatch(child.name):
            continue
        try:
            doc = json.loads((child / evidence.SWEEP_JSON).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("id") == child.name:
            docs.append(doc)
    return docs


def objective_of(doc: dict[str, Any]) -> Objective:
    raw = (doc.get("spec") or {}).get("objective") or {"stat": "sharpe", "direction": "max"}
    return Objective(stat=raw.get("stat", "sharpe"), maximise=raw.get("direction", "max") == "max")


def summary_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The list/SSE shape of a sweep from its ``sweep.json`` (any status)."""
    spec = doc.get("spec") or {}
    obj = objective_of(doc)
    kind = doc.get("kind", "sweep")
    best, raw = None, doc.get("best")
    if isinstance(raw, dict) and raw.get("params") is not None:
        stats = raw.get("stats") or raw.get("inSample") or {}
        value = stats.get(camel(obj.stat), stats.get(obj.stat))
        best = {"index": raw.get("index"), "params": raw["params"], "value": value}
        if kind == "walkforward":
            oos = ((doc.get("result") or {}).get("outOfSample") or {}).get(camel(obj.stat))
            best["outOfSample"] = oos
    total = doc.get("total", doc.get("sets"))
    done = doc.get("done", total if doc.get("status") == "done" else 0)
    return {
        "id": doc["id"],
        "kind": kind,
        "status": doc.get("status"),
        "strategy": doc.get("strategy"),
        "method": spec.get("method"),
        "objective": obj.to_json(),
        "feed": doc.get("feed"),
        "done": done,
        "total": total,
        "best": best,
        "startedAt": doc.get("requestedAt", doc.get("startedAt")),
        "finishedAt": doc.get("finishedAt"),
        "error": doc.get("error"),
        "startedBy": doc.get("startedBy"),
    }


def _thin(rec: np.ndarray, points: int) -> dict[str, list[Any]]:
    step = max(1, math.ceil(len(rec) / points))
    idx = np.arange(0, len(rec), step)
    if len(rec) and idx[-1] != len(rec) - 1:
        idx = np.append(idx, len(rec) - 1)
    return {"timestamp": [int(t) for t in rec["timestamp"][idx]], "equity": [float(v) for v in rec["equity"][idx]]}


def detail(evidence_dir: Path, summary: dict[str, Any], points: int = MAX_POINTS) -> dict[str, Any]:
    """``{sweep: summary, doc: sweep.json, equity: {outOfSample, inSample} | null}``; the curves (a done
    walk-forward's) thinned to at most ``points``."""
    folder = evidence.sweep_folder(evidence_dir, summary["id"])
    try:
        doc, _ = evidence.read_sweep(folder)
    except (OSError, ValueError):
        doc = {}
    equity = None
    if (folder / _OOS).exists():
        equity = {"outOfSample": _thin(np.load(folder / _OOS, allow_pickle=False), points), "inSample": None}
        if (folder / _IS).exists():
            equity["inSample"] = _thin(np.load(folder / _IS, allow_pickle=False), points)
    return {"sweep": summary, "doc": doc, "equity": equity}


def _value(name: str, value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer) or name in INT_STATS:
        return int(value)
    if isinstance(value, np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return str(value) if isinstance(value, np.str_) else value


def _feasible(table: np.ndarray, doc: dict[str, Any]) -> np.ndarray:
    ok = np.ones(len(table), dtype=bool)
    raw = (doc.get("spec") or {}).get("constraints") or {}
    for rule, bound in parse_constraints(raw).values():
        kind, stat = rule.split(":")
        v = np.asarray(table[stat], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ok &= (v >= bound) if kind == "min" else (v <= bound)
    return ok


def columns(table: np.ndarray) -> tuple[list[str], list[str]]:
    """A results table's parameters and stats, by name: ``index`` first, then the parameters, then the stats (the
    summary stats, and any the driver adds after them)."""
    names = table.dtype.names or ()
    first = next((i for i, n in enumerate(names) if n in STATS), len(names))
    return list(names[1:first]), list(names[first:])


def order_by(table: np.ndarray, column: str, descending: bool) -> np.ndarray:
    """Row positions sorted by ``column``: undefined values (NaN) last either way, ties by index."""
    v = np.asarray(table[column], dtype=np.float64)
    key = -v if descending else v.copy()
    key[~np.isfinite(key)] = np.inf
    return np.lexsort((np.asarray(table["index"]), key))


def row_of(table: np.ndarray, i: int, params: list[str], stats: list[str]) -> dict[str, Any]:
    """Row ``i`` on the wire: ``{index, params, stats}``, plain Python values, stats camelCase (undefined: None)."""
    r = table[i]
    return {
        "index": int(r["index"]),
        "params": {n: _value(n, r[n]) for n in params},
        "stats": {camel(n): _value(n, r[n]) for n in stats},
    }


def results_page(evidence_dir: Path, doc_id: str, sort: str | None, limit: int, offset: int) -> dict[str, Any]:
    """``{rows: [{index, params, stats, feasible}], total, sort, params}`` of a sweep's ``results.npy`` (an empty
    page, ``total`` 0, before it is written). InputError naming ``sort`` for a column that is not there."""
    folder = evidence.sweep_folder(evidence_dir, doc_id)
    doc, _ = evidence.read_sweep(folder, table=False) if (folder / evidence.SWEEP_JSON).exists() else ({}, None)
    path = folder / evidence.RESULTS
    if not path.exists():
        return {"rows": [], "total": 0, "sort": sort, "params": []}
    table = np.load(path, mmap_mode="r", allow_pickle=False)
    params, stats = columns(table)
    wire = {camel(n): n for n in stats} | {n: n for n in (*params, "index")}
    index = np.asarray(table["index"])
    feasible = _feasible(table, doc)
    if sort:
        descending = sort.startswith("-")
        column = wire.get(sort.lstrip("-"))
        if column is None:
            allowed = ", ".join(["index", *params, *(camel(n) for n in stats)])
            raise InputError(f"sort: no column {sort[:40]!r} (one of {allowed}; '-' first: descending)", field="sort")
        order = order_by(table, column, descending)
    else:
        obj = objective_of(doc)
        key = obj.key(np.asarray(table[obj.stat]))
        order = np.lexsort((index, key, ~feasible))
    page = order[offset : offset + limit]
    rows = [{**row_of(table, int(i), params, stats), "feasible": bool(feasible[int(i)])} for i in page]
    return {"rows": rows, "total": len(table), "sort": sort, "params": params}
