"""Risk gates: pre-trade checks inside every run, and the account state machine ACTIVE -> REDUCING -> HALTED.

Declared per run as ``Options.gates`` (wire: ``options.gates``, camelCase). Each gate has a limit and a mode,
``deny`` (the order's opening part is not filled) or ``log`` (it is recorded and goes through). The compiled fill
loop (`spark.engine.kernel`) checks every order that opens or adds to a position, in GATE_ORDER, at the moment it
would fill; an order that only reduces the position is never denied. Shapes after NautilusTrader's risk engine
(trading states, pre-trade checks), zipline's trading controls (``on_error='fail'|'log'``, the position *after* the
fill) and freqtrade's protections (a cooldown after a stop-loss). The semantics in words: `describe`.

Wire form (``options.gates``): each gate is its limit, or ``{"value": limit, "onViolation": "deny"|"log"}``;
``onViolation`` at the top sets the mode of the gates given as bare limits (default ``deny``)::

    {"maxOrderNotional": 1000, "longOnly": true, "maxDrawdownPct": {"value": 10, "onViolation": "log"}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spark.engine.params import INT_LIMIT, shown
from spark.errors import ParamError

__all__ = ["GATE_ORDER", "MODES", "STATES", "Gates", "denial_reason", "describe"]

# The order the fill loop checks them in (its gate codes are the indexes): state first, then per-order limits.
GATE_ORDER = (
    "haltDrawdownPct",
    "maxDrawdownPct",
    "cooldownBars",
    "longOnly",
    "maxOrdersPerBar",
    "maxOrderNotional",
    "maxPositionNotional",
)
STATES = ("ACTIVE", "REDUCING", "HALTED")  # account states (kernel codes 0, 1, 2)
MODES = ("deny", "log")
_SNAKE = {
    "haltDrawdownPct": "halt_drawdown_pct",
    "maxDrawdownPct": "max_drawdown_pct",
    "cooldownBars": "cooldown_bars",
    "longOnly": "long_only",
    "maxOrdersPerBar": "max_orders_per_bar",
    "maxOrderNotional": "max_order_notional",
    "maxPositionNotional": "max_position_notional",
}
_WIRE = {v: k for k, v in _SNAKE.items()}
_INTS = ("cooldownBars", "maxOrdersPerBar")
_PCTS = ("haltDrawdownPct", "maxDrawdownPct")


@dataclass(frozen=True, slots=True, kw_only=True)
class Gates:
    """The run's risk gates; None (False for ``long_only``) means that gate is off.

    ``max_order_notional``: the opening part of one order, qty x fill price (slippage included), at most this.
    ``max_position_notional``: |position after the fill| x fill price at most this. ``long_only``: no order may
    leave a short position. ``max_orders_per_bar``: orders the engine tries to fill on one bar (every one counts,
    reducing ones included; only opening ones are denied). ``max_drawdown_pct``: a close-marked drawdown at or
    over it moves the account to REDUCING (only reducing orders) until it is flat and back under it.
    ``halt_drawdown_pct``: at or over it, HALTED to the end of the run (only closing orders). ``cooldown_bars``: after
    a stop-loss exit on bar s, opening orders are denied through bar s + cooldown_bars.

    ``on_violation``: "deny" or "log" for every gate, or a mapping from gate name (snake_case or camelCase) to
    mode; gates it does not name are "deny". Normalised to ``((gate, mode), ...)`` for the gates that are on.
    """

    max_order_notional: float | None = None
    max_position_notional: float | None = None
    long_only: bool = False
    max_orders_per_bar: int | None = None
    max_drawdown_pct: float | None = None
    halt_drawdown_pct: float | None = None
    cooldown_bars: int | None = None
    on_violation: Any = field(default="deny")

    def __post_init__(self) -> None:
        for wire in GATE_ORDER:
            name = _SNAKE[wire]
            value = getattr(self, name)
            if wire == "longOnly":
                if not isinstance(value, bool):
                    raise ParamError(f"gates.{wire} must be true or false, got {shown(value)}", field=f"gates.{wire}")
            elif value is not None:
                object.__setattr__(self, name, _limit(wire, value))
        if (
            self.max_drawdown_pct is not None
            and self.halt_drawdown_pct is not None
            and self.halt_drawdown_pct <= self.max_drawdown_pct
        ):
            raise ParamError(
                f"gates.haltDrawdownPct ({self.halt_drawdown_pct:g}) must be greater than gates.maxDrawdownPct "
                f"({self.max_drawdown_pct:g}): HALTED comes after REDUCING",
                field="gates.haltDrawdownPct",
            )
        object.__setattr__(self, "on_violation", self._modes(self.on_violation))

    def _modes(self, given: Any) -> tuple[tuple[str, str], ...]:
        if isinstance(given, tuple) and all(isinstance(x, tuple) and len(x) == 2 for x in given):
            given = dict(given)
        if isinstance(given, str):
            default, per = given, {}
        elif isinstance(given, Mapping):
            default, per = "deny", {}
            for key, mode in given.items():
                wire = _WIRE.get(key, key)
                if wire not in _SNAKE:
                    raise ParamError(
                        f"gates.onViolation names no gate: {shown(key)} (gates: {', '.join(GATE_ORDER)})",
                        field="gates.onViolation",
                    )
                per[wire] = mode
        else:
            raise ParamError(
                f"gates.onViolation must be deny, log or a mapping of gate to mode, got {shown(given)}",
                field="gates.onViolation",
            )
        out = []
        for wire in self.active():
            mode = per.get(wire, default)
            if mode not in MODES:
                where = f"gates.{wire}.onViolation" if wire in per else "gates.onViolation"
                raise ParamError(f"{where} must be deny or log, got {shown(mode)}", field=where)
            out.append((wire, mode))
        return tuple(out)

    def active(self) -> tuple[str, ...]:
        """The wire names of the gates that are on, in GATE_ORDER."""
        return tuple(w for w in GATE_ORDER if getattr(self, _SNAKE[w]) not in (None, False))

    def mode(self, wire: str) -> str | None:
        return dict(self.on_violation).get(wire)

    def __bool__(self) -> bool:
        return bool(self.active())

    def to_json(self) -> dict[str, Any]:
        """``{gate: {"value": limit, "onViolation": mode}}`` for each gate that is on, by wire name (gate names
        are their wire names everywhere: results, denials, metrics), explicit, so ``{"maxOrderNotional": 1000}``
        and its long form are one run (and one fingerprint). `from_wire` reads it back."""
        return {w: {"value": getattr(self, _SNAKE[w]), "onViolation": mode} for w, mode in self.on_violation}

    @classmethod
    def from_wire(cls, raw: Any, *, where: str = "options.gates") -> Gates:
        """Gates from a decoded ``options.gates`` object; ParamError naming the field (``options.gates.x``)."""
        if isinstance(raw, Gates):
            return raw
        if not isinstance(raw, Mapping):
            raise ParamError(f"{where} must be an object, got {shown(raw)}", field=where)
        values: dict[str, Any] = {}
        modes: dict[str, Any] = {}
        default = raw.get("onViolation", "deny")
        for key, item in raw.items():
            if key == "onViolation":
                continue
            wire = _WIRE.get(key, key) if isinstance(key, str) else key
            if wire not in _SNAKE:
                name = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
                raise ParamError(
                    f"unknown field {where}.{name} (allowed: {', '.join(GATE_ORDER)}, onViolation)",
                    field=f"{where}.{name}",
                )
            if isinstance(item, Mapping):
                for sub in item:
                    if sub not in ("value", "onViolation"):
                        raise ParamError(
                            f"unknown field {where}.{wire}.{sub} (allowed: value, onViolation)",
                            field=f"{where}.{wire}.{sub}",
                        )
                if "value" not in item:
                    raise ParamError(f"{where}.{wire}.value is missing (the limit)", field=f"{where}.{wire}.value")
                modes[wire] = item.get("onViolation", default)
                item = item["value"]
            else:
                modes[wire] = default
            values[_SNAKE[wire]] = item
        if default not in MODES:
            raise ParamError(
                f"{where}.onViolation must be deny or log, got {shown(default)}", field=f"{where}.onViolation"
            )
        try:
            return cls(**values, on_violation=modes)
        except ParamError as exc:
            name = (exc.field or "").removeprefix("gates")
            raise ParamError(exc.message.replace("gates.", f"{where}."), field=f"{where}{name}") from None

    def kernel_params(self) -> np.ndarray:
        """The fill loop's float64 view: limits in GATE_ORDER (NaN: off; long_only 1.0), then modes (1.0 deny)."""
        out = np.full(2 * len(GATE_ORDER), np.nan)
        modes = dict(self.on_violation)
        for i, wire in enumerate(GATE_ORDER):
            if wire in modes:
                value = getattr(self, _SNAKE[wire])
                out[i] = 1.0 if value is True else float(value)
                out[len(GATE_ORDER) + i] = 1.0 if modes[wire] == "deny" else 0.0
        return out


def _limit(wire: str, value: Any) -> int | float:
    where = f"gates.{wire}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(f"{where} must be a number, got {shown(value)}", field=where)
    if isinstance(value, int) and abs(value) >= INT_LIMIT:
        raise ParamError(f"{where} is out of range: {shown(value)} (the limit is +-2**63)", field=where)
    if not math.isfinite(value):
        raise ParamError(f"{where} must be a finite number, got {value!r}", field=where)
    if wire in _INTS:
        if isinstance(value, float) and not value.is_integer():
            raise ParamError(f"{where} must be a whole number, got {value!r}", field=where)
        if value < 1:
            raise ParamError(f"{where} must be >= 1, got {value:g}", field=where)
        return int(value)
    if value <= 0:
        raise ParamError(f"{where} must be > 0, got {value:g}", field=where)
    if wire in _PCTS and value > 100:
        raise ParamError(f"{where} is a percent: at most 100, got {value:g}", field=where)
    return float(value)


def denial_reason(gate: str, value: float, limit: float) -> str:
    """Why an order met a gate, in words, from the kernel's denied row (the measured value and the limit)."""
    if gate == "haltDrawdownPct":
        return f"account HALTED: drawdown reached haltDrawdownPct {limit:g}% (now {value:.4g}%); only closing orders"
    if gate == "maxDrawdownPct":
        return (
            f"account REDUCING: drawdown reached maxDrawdownPct {limit:g}% (now {value:.4g}%); only orders that "
            "reduce the position, until flat and back under it"
        )
    if gate == "cooldownBars":
        return (
            f"cooldown after a stop-loss exit: opening orders denied through bar {int(value)} "
            f"(cooldownBars {int(limit)})"
        )
    if gate == "longOnly":
        return f"would leave a short position of {value:.10g} (longOnly)"
    if gate == "maxOrdersPerBar":
        return f"order {int(value)} of this bar (maxOrdersPerBar {int(limit)})"
    if gate == "maxOrderNotional":
        return f"order notional {value:.10g} > maxOrderNotional {limit:g}"
    return f"position notional after the fill {value:.10g} > maxPositionNotional {limit:g}"


def describe(gates: Gates) -> str:
    """The gates' semantics in words, for a result's ``metadata.semantics``."""
    listed = ", ".join(f"{w} {getattr(gates, _SNAKE[w])!s} ({m})" for w, m in gates.on_violation)
    return (
        f"risk gates {listed}: checked in this order on every order that opens or adds to a position, when it "
        "would fill (reducing orders are never denied; a reversal's closing part always fills); deny: its opening "
        "part is not filled and listed in report.denied; log: listed and filled. The account is ACTIVE, REDUCING "
        "once the close-marked drawdown reaches maxDrawdownPct (lifts when flat and back under it) and HALTED from "
        "haltDrawdownPct to the end; states change at the close and apply from the next fill"
    )
