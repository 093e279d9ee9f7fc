"""Promotion gates: what a change request's evidence must show before its params may go live (issue 12).

Each gate is ``pass``, ``warn`` or ``fail`` with the value measured and the threshold (Settings), in the manner of
LEAN's result analyses. What each reads (DESIGN.md, "Guardrails"):

- ``min_trades`` and ``max_drawdown``: the runs named as evidence (the fewest trades, the deepest drawdown);
- ``oos_sharpe``, ``deflated_sharpe``, ``degradation``: the walk-forward (its stitched out-of-sample Sharpe, the
  deflated Sharpe ratio of its final choice, its out-of-sample degradation); no walk-forward: ``fail``;
- ``param_count``: the strategy's declared parameters (more than the threshold: ``warn``, overfitting risk);
- ``lookahead``: the strategy re-run on prefixes of the runs' data (`spark.service.lookahead`); its output on the
  first k bars must equal the first k of its output on all bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spark.config import Settings
from spark.service.changes import GateResult
from spark.service.record import RunRecord

__all__ = ["Thresholds", "evaluate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    min_trades: int
    max_drawdown_pct: float
    min_oos_sharpe: float
    min_deflated_sharpe: float
    max_degradation: float
    max_params: int

    @classmethod
    def from_settings(cls, s: Settings) -> Thresholds:
        return cls(
            min_trades=s.gate_min_trades,
            max_drawdown_pct=s.gate_max_drawdown_pct,
            min_oos_sharpe=s.gate_min_oos_sharpe,
            min_deflated_sharpe=s.gate_min_deflated_sharpe,
            max_degradation=s.gate_max_degradation,
            max_params=s.gate_max_params,
        )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evaluate(
    thresholds: Thresholds,
    *,
    runs: Sequence[RunRecord],
    walk_forward: Mapping[str, Any] | None,
    param_count: int,
    lookahead: tuple[bool, str] | None,
) -> tuple[GateResult, ...]:
    """The gate table of a change request's evidence, in a fixed order."""
    t = thresholds
    trades = [n for r in runs if (n := _number((r.stats or {}).get("total_trades"))) is not None]
    drawdowns = [d for r in runs if (d := _number((r.stats or {}).get("max_drawdown_pct"))) is not None]
    out = []
    fewest = min(trades) if trades else None
    out.append(
        GateResult(
            name="min_trades",
            threshold=t.min_trades,
            value=fewest,
            verdict="pass" if fewest is not None and fewest >= t.min_trades else "fail",
            detail="the fewest trades among the evidence runs" if trades else "no done run among the evidence",
        )
    )
    deepest = max(drawdowns) if drawdowns else None
    out.append(
        GateResult(
            name="max_drawdown",
            threshold=t.max_drawdown_pct,
            value=deepest,
            verdict="pass" if deepest is not None and deepest <= t.max_drawdown_pct else "fail",
            detail="the deepest drawdown (percent) among the evidence runs" if drawdowns else "no done run",
        )
    )
    wf = walk_forward or {}
    oos = _number((wf.get("outOfSample") or {}).get("sharpe"))
    dsr = _number((wf.get("deflatedSharpe") or {}).get("value"))
    degradation = _number(wf.get("degradation"))
    missing = "no walk-forward among the evidence" if not wf else ""
    out.append(
        GateResult(
            name="oos_sharpe",
            threshold=t.min_oos_sharpe,
            value=oos,
            verdict="pass" if oos is not None and oos >= t.min_oos_sharpe else "fail",
            detail=missing or "the stitched out-of-sample Sharpe ratio of the walk-forward",
        )
    )
    out.append(
        GateResult(
            name="deflated_sharpe",
            threshold=t.min_deflated_sharpe,
            value=dsr,
            verdict="pass" if dsr is not None and dsr >= t.min_deflated_sharpe else "fail",
            detail=missing or "the deflated Sharpe ratio of the final choice (Bailey & López de Prado 2014)",
        )
    )
    out.append(
        GateResult(
            name="degradation",
            threshold=t.max_degradation,
            value=degradation,
            verdict="pass" if degradation is not None and degradation <= t.max_degradation else "fail",
            detail=missing or "how much worse out of sample than in sample (0: as good)",
        )
    )
    out.append(
        GateResult(
            name="param_count",
            threshold=t.max_params,
            value=param_count,
            verdict="warn" if param_count > t.max_params else "pass",
            detail="declared parameters: more than the threshold risks overfitting",
        )
    )
    ok, why = lookahead if lookahead is not None else (False, "no run data to check")
    out.append(
        GateResult(
            name="lookahead", threshold="prefix-invariant", value=ok, verdict="pass" if ok else "fail", detail=why
        )
    )
    return tuple(out)
