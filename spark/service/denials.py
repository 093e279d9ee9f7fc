"""A gated run's denials and account states as evidence (``<id>.gates.npz``), and the page the report API serves.

Only a run with risk gates has the file: the kernel's denied table (`spark.engine.kernel.DEN_COLS`) and its state
table (`GST_COLS`), each with the bar times beside them, float64/int64 in an uncompressed ``.npz`` (a run that
denies an order on every one of 1,000,000 bars is 80 MB here, not a JSON document to parse per page). Rows
become records (with their reason in words) only for the page read, through the engine's own converters, so the
API says exactly what ``report.denied`` says. Readers never follow a symlink. Every function blocks (files).
"""

from __future__ import annotations

import io
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from spark.engine import BacktestResult
from spark.engine.gates import GATE_ORDER
from spark.engine.kernel import DEN_COLS, GST_COLS
from spark.engine.result import denied_row, gate_state_table

__all__ = ["MAX_DENIED_PAGE", "denial_counts", "denied_page", "gates_bytes", "load_gates_file"]

MAX_DENIED_PAGE = 1_000


def gates_bytes(result: BacktestResult) -> bytes | None:
    """The ``.gates.npz`` content of a gated run; None for a run without gates (nothing is written then)."""
    report = result.report
    if report.denied is None or report.gate_states is None:
        return None
    denied, states = report.denied.array, report.gate_states.array
    ts = report.timestamp
    buffer = io.BytesIO()
    np.savez(
        buffer,
        denied=denied,
        denied_ts=ts[denied[:, 0].astype(np.int64)].astype(np.int64),
        states=states,
        states_ts=ts[states[:, 0].astype(np.int64)].astype(np.int64),
    )
    return buffer.getvalue()


def denial_counts(result: BacktestResult) -> tuple[tuple[str, int], ...]:
    """Orders denied (not logged) per gate, for ``spark_guardrail_denials_total{gate}``; () without gates."""
    if result.report.denied is None:
        return ()
    rows = result.report.denied.array
    counts = Counter(GATE_ORDER[int(code)] for code in rows[rows[:, 2] == 1.0, 1])
    return tuple(sorted(counts.items()))


def load_gates_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(denied, denied_ts, states, states_ts) from a ``.gates.npz``, or None (missing, planted, damaged)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with np.load(path, allow_pickle=False) as npz:
            denied, denied_ts = npz["denied"], npz["denied_ts"]
            states, states_ts = npz["states"], npz["states_ts"]
    except (OSError, ValueError, KeyError, EOFError):
        return None
    shapes_ok = (
        denied.ndim == 2
        and denied.shape[1] == DEN_COLS
        and states.ndim == 2
        and states.shape[1] == GST_COLS
        and denied_ts.shape == (len(denied),)
        and states_ts.shape == (len(states),)
        and denied.dtype == np.float64
        and states.dtype == np.float64
    )
    return (denied, denied_ts, states, states_ts) if shapes_ok else None


def denied_page(
    path: Path, summary: dict[str, Any] | None, limit: int, offset: int, gate: str | None = None
) -> dict[str, Any] | None:
    """``{gates, total, denied: [page], gateStates}`` of a done run (``summary``: its summary document), in the
    engine's order (bar, then check order); ``gate`` keeps one gate's rows. ``gates`` is null and the lists empty
    for a run without gates; None when the run has no result (yet) or its gate evidence cannot be read."""
    metadata = (summary or {}).get("metadata")
    if not metadata:
        return None
    gates = (metadata.get("options") or {}).get("gates")
    if not gates:
        return {"gates": None, "total": 0, "denied": [], "gateStates": []}
    loaded = load_gates_file(path)
    if loaded is None:
        return None
    denied, denied_ts, states, states_ts = loaded
    index = np.arange(len(denied))
    if gate is not None:
        index = index[denied[:, 1] == GATE_ORDER.index(gate)]
    page = index[offset : offset + limit]
    bars = np.zeros(int(states[:, 0].max()) + 1 if len(states) else 0, dtype=np.int64)
    bars[states[:, 0].astype(np.int64)] = states_ts
    return {
        "gates": gates,
        "total": len(index),
        "denied": [denied_row(denied[i], int(denied_ts[i])).to_json() for i in page],
        "gateStates": [g.to_json() for g in gate_state_table(states, bars)],
    }
