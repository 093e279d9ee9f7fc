"""Parameter spaces: grids (every combination, in a stable order) and ranges to sample from (random, TPE).

A grid maps a declared parameter to its values: a list, or ``"a:b:step"`` (both ends included, as DESIGN says).
A space maps a parameter to a range: ``[low, high]``, ``"low:high"`` / ``"low:high:step"``, ``{"low", "high",
"step", "log"}`` or ``{"choices": [...]}``. Values are checked against the strategy's declared bounds (a bad value
is a ParamError naming ``grid.<name>``); combinations the strategy's ``check`` refuses (``fast >= slow``) are
skipped and counted, never run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spark.engine import Param, StrategySpec, validate_params
from spark.engine.params import shown
from spark.errors import ParamError

__all__ = ["DEFAULT_MAX_SETS", "Dimension", "expand_grid", "parse_range", "parse_space", "sample_random"]

DEFAULT_MAX_SETS = 1_000_000


def _declared(spec: StrategySpec, name: Any, where: str) -> Param:
    known = {p.name: p for p in spec.params}
    if name not in known:
        allowed = ", ".join(known) or "none"
        raise ParamError(
            f"{where}.{name}: {spec.name} has no parameter {name!r} (allowed: {allowed})", field=f"{where}.{name}"
        )
    return known[name]


def _number(text: str, param: Param, where: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise ParamError(f"{where}: {shown(text)} is not a number", field=where) from None
    if param.type == "int":
        if not value.is_integer():
            raise ParamError(f"{where}: {param.name} is an int, got {shown(text)}", field=where)
        return int(value)
    return value


def parse_range(text: str, param: Param, where: str) -> list[Any]:
    """``"a:b:step"`` (both ends included) as the list of values; ``"a"`` is one value; ``"a:b"`` steps by 1
    (ints only)."""
    parts = text.split(":")
    if len(parts) == 1:
        return [_number(parts[0], param, where)]
    if len(parts) == 2 and param.type == "int":
        parts.append("1")
    if len(parts) != 3:
        raise ParamError(f"{where}: expected a:b:step, got {shown(text)}", field=where)
    a, b, step = (_number(p, param, where) for p in parts)
    if step <= 0:
        raise ParamError(f"{where}: the step must be > 0, got {step:g}", field=where)
    if b < a:
        raise ParamError(f"{where}: empty range {shown(text)} (the end is below the start)", field=where)
    count = math.floor((b - a) / step + 1e-9) + 1
    if count > DEFAULT_MAX_SETS:
        raise ParamError(f"{where}: {count} values in {shown(text)}: too many", field=where)
    if param.type == "int":
        return [int(a + i * step) for i in range(count)]
    return [round(a + i * step, 12) for i in range(count)]


def _values(raw: Any, param: Param, where: str) -> list[Any]:
    if isinstance(raw, str) and param.type in ("int", "float"):
        values = parse_range(raw, param, where)
    elif isinstance(raw, Sequence) and not isinstance(raw, str):
        values = list(raw)
    else:
        values = [raw]
    if not values:
        raise ParamError(f"{where}: no values", field=where)
    out = []
    for value in values:
        try:
            out.append(param.coerce(value, prefix="grid"))
        except ParamError as exc:
            raise ParamError(str(exc), field=where) from None
    return list(dict.fromkeys(out))  # a value given twice is one value


def expand_grid(
    spec: StrategySpec, grid: Mapping[str, Any], *, max_sets: int = DEFAULT_MAX_SETS
) -> tuple[list[dict[str, Any]], int]:
    """Every combination, the last parameter varying fastest, completed with defaults: (valid sets, skipped).
    An empty grid is one set: the defaults."""
    if not isinstance(grid, Mapping):
        raise ParamError("grid must map parameter names to values", field="grid")
    axes = {}
    for name, raw in grid.items():
        param = _declared(spec, name, "grid")
        axes[name] = _values(raw, param, f"grid.{name}")
    total = math.prod(len(v) for v in axes.values())
    if total > max_sets:
        raise ParamError(f"grid: {total} parameter sets is more than the limit of {max_sets}", field="grid")
    return _checked(spec, (dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())))


def _checked(spec: StrategySpec, combos: Iterator[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    sets, skipped = [], 0
    for combo in combos:
        try:
            sets.append(validate_params(spec.params, combo, check=spec.check))
        except ParamError:
            skipped += 1
    return sets, skipped


@dataclass(frozen=True, slots=True)
class Dimension:
    """One parameter's range to sample: numbers in [low, high] (on a ``step`` lattice, log-uniform with ``log``),
    or one of ``choices``."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if self.choices:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "step": self.step, "log": self.log}


def parse_space(spec: StrategySpec, space: Mapping[str, Any]) -> list[Dimension]:
    """A space as dimensions, checked against the declared parameters and their bounds."""
    if not isinstance(space, Mapping) or not space:
        raise ParamError("space must map parameter names to ranges", field="space")
    dims = []
    for name, raw in space.items():
        param = _declared(spec, name, "space")
        where = f"space.{name}"
        if isinstance(raw, Mapping) and "choices" in raw:
            choices = _values(list(raw["choices"]), param, where)
            dims.append(Dimension(name=name, type=param.type, choices=tuple(choices)))
            continue
        if param.type not in ("int", "float"):
            choices = _values(raw, param, where)
            dims.append(Dimension(name=name, type=param.type, choices=tuple(choices)))
            continue
        step = None
        log = False
        if isinstance(raw, str):
            parts = raw.split(":")
            if len(parts) not in (2, 3):
                raise ParamError(f"{where}: expected low:high or low:high:step, got {shown(raw)}", field=where)
            low, high = (_number(p, param, where) for p in parts[:2])
            step = _number(parts[2], param, where) if len(parts) == 3 else None
        elif isinstance(raw, Mapping):
            low, high = raw.get("low"), raw.get("high")
            step, log = raw.get("step"), bool(raw.get("log", False))
        elif isinstance(raw, Sequence) and len(raw) == 2:
            low, high = raw
        else:
            raise ParamError(f"{where}: expected [low, high], low:high[:step] or {{low, high}}", field=where)
        try:
            low, high = param.coerce(low, prefix="space"), param.coerce(high, prefix="space")
        except ParamError as exc:
            raise ParamError(str(exc), field=where) from None
        if high < low:
            raise ParamError(f"{where}: empty range {low}..{high}", field=where)
        if step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or step <= 0):
            raise ParamError(f"{where}: the step must be a number > 0", field=where)
        if log and low <= 0:
            raise ParamError(f"{where}: a log range needs low > 0", field=where)
        dims.append(Dimension(name=name, type=param.type, low=low, high=high, step=step, log=log))
    return dims


def _draw(dim: Dimension, rng: np.random.Generator) -> Any:
    if dim.choices:
        return dim.choices[int(rng.integers(len(dim.choices)))]
    assert dim.low is not None and dim.high is not None
    if dim.step is not None:
        count = math.floor((dim.high - dim.low) / dim.step + 1e-9) + 1
        value = dim.low + int(rng.integers(count)) * dim.step
    elif dim.log:
        value = math.exp(rng.uniform(math.log(dim.low), math.log(dim.high)))
    elif dim.type == "int":
        value = int(rng.integers(int(dim.low), int(dim.high) + 1))
    else:
        value = float(rng.uniform(dim.low, dim.high))
    return round(value) if dim.type == "int" else float(value)


def sample_random(
    spec: StrategySpec, dims: list[Dimension], trials: int, seed: int
) -> tuple[list[dict[str, Any]], int]:
    """``trials`` sets drawn from one generator seeded with ``seed`` (so the same seed gives the same sets,
    whatever runs them): (valid sets, skipped)."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ParamError(f"trials must be a whole number >= 1, got {shown(trials)}", field="trials")
    rng = np.random.default_rng(seed)
    combos = ({d.name: _draw(d, rng) for d in dims} for _ in range(trials))
    return _checked(spec, combos)
