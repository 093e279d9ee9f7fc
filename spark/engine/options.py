"""Run options: how orders are sized and filled, costs, and the annualisation basis. All recorded in results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from spark.engine.gates import Gates
from spark.engine.params import INT_LIMIT, shown
from spark.errors import ParamError

__all__ = ["FILL_MODES", "Options", "periods_per_year_for"]

FILL_MODES = ("next_open", "close")

# Seconds per bar for the timeframes we understand; markets are assumed to trade 24x7.
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "y": 365 * 86400}


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """``size`` is units per order; ``size_pct`` a fraction (0, 1] of equity; neither means 1 unit.

    ``fee`` is a rate of traded value charged on every fill; ``slippage_bps`` moves every fill price against the
    trader. ``periods_per_year`` None means: derive it from the candles' timeframe (24x7), or from the median
    bar spacing when the timeframe is unknown. ``margin`` allows orders that need more cash than the account holds.
    ``gates``: the run's risk gates (`spark.engine.gates.Gates`, or its wire mapping); None, or gates with none
    on, is a run without gates (and is written nowhere, so such a run is the run it was before gates existed).
    """

    cash: float = 10_000.0
    fee: float = 0.0
    slippage_bps: float = 0.0
    size: float | None = None
    size_pct: float | None = None
    fill: Literal["next_open", "close"] = "next_open"
    periods_per_year: float | None = None
    margin: bool = False
    gates: Gates | None = None

    def __post_init__(self) -> None:
        _check(self.cash, "cash", low=0.0, low_open=True)
        _check(self.fee, "fee", low=0.0, high=0.5)
        _check(self.slippage_bps, "slippage_bps", low=0.0, high=10_000.0)
        if self.size is not None and self.size_pct is not None:
            raise ParamError("give size or size_pct, not both", field="size_pct")
        if self.size is not None:
            _check(self.size, "size", low=0.0, low_open=True)
        if self.size_pct is not None:
            _check(self.size_pct, "size_pct", low=0.0, high=1.0, low_open=True)
        if self.fill not in FILL_MODES:
            raise ParamError(f"fill must be one of {', '.join(FILL_MODES)}, got {shown(self.fill)}", field="fill")
        if self.periods_per_year is not None:
            _check(self.periods_per_year, "periods_per_year", low=0.0, low_open=True)
        if not isinstance(self.margin, bool):
            raise ParamError(f"margin must be true or false, got {shown(self.margin)}", field="margin")
        gates = self.gates
        if isinstance(gates, Mapping):
            gates = Gates.from_wire(gates, where="gates")
        elif gates is not None and not isinstance(gates, Gates):
            raise ParamError(f"gates must be an object, got {shown(gates)}", field="gates")
        object.__setattr__(self, "gates", gates if gates else None)

    def kernel_costs(self) -> tuple[float, float, float, float, float, bool, bool]:
        """What every fill loop takes, in its argument order: (cash, fee, slippage as a fraction, size in units
        (1 when unset), size as a fraction of equity (NaN when unset), fill at the close, margin allowed)."""
        return (
            float(self.cash),
            float(self.fee),
            float(self.slippage_bps) / 1e4,
            1.0 if self.size is None else float(self.size),
            math.nan if self.size_pct is None else float(self.size_pct),
            self.fill == "close",
            bool(self.margin),
        )

    def to_json(self) -> dict[str, Any]:
        """Every option by its Python name; ``gates`` only when the run has gates (`Gates.to_json`)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "gates"}
        if self.gates is not None:
            out["gates"] = self.gates.to_json()
        return out


def _check(value: Any, name: str, *, low: float, high: float | None = None, low_open: bool = False) -> None:
    """A finite number within its bounds, or ParamError naming ``name``; never OverflowError or TypeError (a
    400-digit integer, a string, a list)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(f"{name} must be a finite number, got {shown(value)}", field=name)
    if isinstance(value, int) and abs(value) >= INT_LIMIT:
        raise ParamError(f"{name} is out of range: {shown(value)} (the limit is +-2**63)", field=name)
    if not math.isfinite(value):
        raise ParamError(f"{name} must be a finite number, got {value!r}", field=name)
    if value < low or (low_open and value == low):
        raise ParamError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value:g}", field=name)
    if high is not None and value > high:
        raise ParamError(f"{name} must be <= {high:g}, got {value:g}", field=name)


def periods_per_year_for(timeframe: str) -> float | None:
    """Bars per year for a timeframe like ``1m``, ``4h``, ``1d``, ``1w``, ``1M`` in a 24x7 market; None if unknown."""
    tf = timeframe.strip()
    if len(tf) < 2 or tf[-1] not in _UNIT_SECONDS or not tf[:-1].isdigit() or int(tf[:-1]) <= 0:
        return None
    return 365.0 * 86400 / (int(tf[:-1]) * _UNIT_SECONDS[tf[-1]])
