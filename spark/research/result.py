"""A sweep's outcome: one row per parameter set (by index), params and the summary stats of run_backtest.

The table is a numpy structured array (``index``, the params, then `spark.engine.sweep.STATS`; NaN where
run_backtest says None); ``rows`` are dicts built from it on demand. The objective ranks the sets (NaN last, ties
by index); constraints filter which may be best.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spark.engine.params import shown
from spark.engine.result import camel
from spark.engine.sweep import INT_STATS, STATS, row_stats
from spark.errors import ParamError

__all__ = ["LOWER_IS_BETTER", "Objective", "SweepResult", "parse_constraints", "parse_objective"]

LOWER_IS_BETTER = frozenset(
    {"max_drawdown_pct", "max_drawdown_duration_bars", "max_drawdown_duration_ms", "fees_paid", "rejected_orders"}
)
_ALIASES = {"trades": "total_trades", "drawdown": "max_drawdown_pct", "return": "return_pct"}


@dataclass(frozen=True, slots=True)
class Objective:
    """The stat that ranks sets, and whether it is maximised."""

    stat: str
    maximise: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"stat": self.stat, "direction": "max" if self.maximise else "min"}

    def key(self, values: np.ndarray) -> np.ndarray:
        """Sort keys, smallest first = best first; NaN (undefined) sorts last."""
        v = np.asarray(values, dtype=np.float64)
        k = -v if self.maximise else v.copy()
        k[~np.isfinite(k)] = np.inf
        return k


def parse_objective(raw: Any) -> Objective:
    """``"sharpe"`` (the stat's natural direction: drawdowns, durations, fees, rejections minimised, the rest
    maximised), ``"max:stat"``/``"min:stat"``, or an Objective."""
    if isinstance(raw, Objective):
        return raw
    if not isinstance(raw, str) or not raw:
        raise ParamError(f"objective must be a stat name, got {shown(raw)}", field="objective")
    direction, _, stat = raw.rpartition(":")
    stat = _ALIASES.get(stat, stat)
    if stat not in STATS:
        raise ParamError(f"objective: unknown stat {shown(stat)} (one of {', '.join(STATS)})", field="objective")
    if direction not in ("", "max", "min"):
        raise ParamError(f"objective: direction must be max or min, got {shown(direction)}", field="objective")
    maximise = stat not in LOWER_IS_BETTER if not direction else direction == "max"
    return Objective(stat=stat, maximise=maximise)


def parse_constraints(raw: Mapping[str, Any] | None) -> dict[str, tuple[str, float]]:
    """``{"min_trades": 10, "max_max_drawdown_pct": 25}`` as ``{key: (stat, bound)}``: ``min_<stat>`` keeps sets
    with stat >= bound, ``max_<stat>`` sets with stat <= bound (a set whose stat is undefined fails both)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ParamError("constraints must map min_<stat>/max_<stat> to numbers", field="constraints")
    out = {}
    for key, bound in raw.items():
        where = f"constraints.{key}"
        kind, _, stat = str(key).partition("_")
        stat = _ALIASES.get(stat, stat)
        if kind not in ("min", "max") or stat not in STATS:
            raise ParamError(f"{where}: expected min_<stat> or max_<stat> with a known stat", field=where)
        if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
            raise ParamError(f"{where}: the bound must be a finite number, got {shown(bound)}", field=where)
        out[str(key)] = (f"{kind}:{stat}", float(bound))
    return out


@dataclass(slots=True)
class SweepResult:
    """Rows by index. ``table`` is the structured array; ``skipped`` counts combinations the strategy refused."""

    strategy: str
    param_names: tuple[str, ...]
    table: np.ndarray
    objective: Objective
    constraints: dict[str, tuple[str, float]]
    skipped: int
    periods_per_year: float | None
    annualisation: str
    method: str = "grid"
    seed: int | None = None
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def feasible(self) -> np.ndarray:
        """A bool per row: the row meets every constraint."""
        ok = np.ones(len(self.table), dtype=bool)
        for rule, bound in self.constraints.values():
            kind, stat = rule.split(":")
            v = self.table[stat].astype(np.float64)
            with np.errstate(invalid="ignore"):
                ok &= (v >= bound) if kind == "min" else (v <= bound)
        return ok

    def ranking(self) -> np.ndarray:
        """Row positions, best first: feasible rows by the objective (NaN last, ties by index), then the rest."""
        key = self.objective.key(self.table[self.objective.stat])
        return np.lexsort((self.table["index"], key, ~self.feasible))

    def row(self, position: int) -> dict[str, Any]:
        r = self.table[position]
        return {
            "index": int(r["index"]),
            "params": {name: _plain(r[name]) for name in self.param_names},
            "stats": row_stats(r, self.periods_per_year, self.annualisation),
        }

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [self.row(i) for i in range(len(self.table))]

    @property
    def best(self) -> dict[str, Any] | None:
        """The best feasible row whose objective is defined, or None."""
        order = self.ranking()
        if len(order) == 0:
            return None
        first = int(order[0])
        value = float(self.table[self.objective.stat][first])
        if not self.feasible[first] or not math.isfinite(value):
            return None
        return self.row(first)

    def top(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` best rows (feasible first), best first."""
        return [self.row(int(i)) for i in self.ranking()[: max(int(k), 0)]]

    def to_json(self, *, top: int = 20) -> dict[str, Any]:
        """The summary on the wire: camelCase stats, the best row and the top ``top``."""
        return {
            "id": self.id,
            "strategy": self.strategy,
            "method": self.method,
            "seed": self.seed,
            "params": list(self.param_names),
            "objective": self.objective.to_json(),
            "constraints": {k: v[1] for k, v in self.constraints.items()},
            "total": len(self.table),
            "skipped": self.skipped,
            "feasible": int(self.feasible.sum()),
            "annualisation": self.annualisation,
            "best": _wire_row(self.best),
            "top": [_wire_row(r) for r in self.top(top)],
            **self.meta,
        }

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame (needs pandas installed)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover (depends on the environment)
            raise ImportError("to_pandas() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.table).set_index("index")


def _plain(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    return value


def _wire_row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"index": row["index"], "params": row["params"], "stats": {camel(k): v for k, v in row["stats"].items()}}


def build_table(
    param_names: Sequence[str], param_types: Sequence[str], sets: Sequence[Mapping[str, Any]], stats: np.ndarray
) -> np.ndarray:
    """``index`` + params + stats as one structured array (row i is set i)."""
    kinds = {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": "U64"}
    dtype = [("index", np.int64)]
    dtype += [(n, kinds.get(t, "U64")) for n, t in zip(param_names, param_types, strict=True) if n not in STATS]
    dtype += [(n, np.int64 if n in INT_STATS else np.float64) for n in STATS]
    table = np.zeros(len(sets), dtype=dtype)
    table["index"] = np.arange(len(sets))
    for n in param_names:
        if n not in STATS:
            table[n] = [s[n] for s in sets]
    for n in STATS:
        table[n] = stats[n]
    return table
