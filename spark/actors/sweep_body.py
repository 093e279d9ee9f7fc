"""The body of ``POST /api/sweeps``, checked before the sweeps actor is asked: `parse_sweep_body` -> `SweepDraft`.

Every field is optional but the search itself (``grid``, or ``space`` with ``trials``); unknown fields are refused.
What is wrong is an InputError naming the field (``grid.fast``, ``objective``, ``walkForward.mode``...), raised
before anything is written: a grid over the ``sweep_max_sets`` cap, an empty range, a parameter the strategy does
not declare, an objective that is no stat, a feed that is not allowed over the API (``btcturk`` without
``market_data_enabled``). Stats and constraints may be named camelCase (the wire's) or snake_case (Python's).

Expanding a large grid is real work (a million combinations, each validated), so call it in a worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spark.config import Settings
from spark.engine.params import shown
from spark.errors import InputError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins
from spark.plugin.request import OPTION_FIELDS, RunRequest, refuse_unencodable
from spark.research.result import parse_constraints, parse_objective
from spark.research.space import expand_grid, parse_space, sample_random
from spark.research.store import BODY_FIELDS, WALK_FIELDS  # the body's fields: one list for both sides

__all__ = ["SweepDraft", "parse_sweep_body", "snake"]

METHODS = ("grid", "random", "tpe")
PROBE_DRAWS = 10_000  # a random space is checked on its first draws, not on all of them (up to the cap)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``maxDrawdownPct`` -> ``max_drawdown_pct`` (snake_case stays as it is)."""
    return _CAMEL.sub("_", name).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepDraft:
    """A start body, validated: what `spark.research` is called with, and the body as sent (for the audit)."""

    kind: str  # "sweep" (sw-) or "walkforward" (wf-)
    strategy: str
    feed_name: str
    feed_args: dict[str, Any]
    options: dict[str, Any]  # run options by their Python names (only those the body gave)
    options_wire: dict[str, Any]
    method: str
    grid: dict[str, Any] | None
    space: dict[str, Any] | None
    trials: int | None
    seed: int
    objective: str
    constraints: dict[str, float]
    walk_forward: dict[str, Any] | None  # run_walkforward's keywords
    sets: int  # parameter sets a sweep evaluates (a walk-forward: per window)
    payload: Any = field(default=None, compare=False)


def _whole(value: Any, where: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InputError(f"{where} must be a whole number {bound}, got {shown(value)}", field=where)
    return value


def _walk_forward(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InputError("walkForward must be an object {folds, mode, trainBars, testBars, purgeBars, embargoBars}",
                         field="walkForward")  # fmt: skip
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in WALK_FIELDS:
            raise InputError(
                f"unknown field walkForward.{str(key)[:40]} (allowed: {', '.join(WALK_FIELDS)})",
                field=f"walkForward.{str(key)[:40]}",
            )
        where = f"walkForward.{key}"
        if value is None:
            continue
        if key == "mode":
            if value not in ("rolling", "anchored"):
                raise InputError(f"{where} must be rolling or anchored, got {shown(value)}", field=where)
        elif key == "purgeBars" and value == "auto":
            pass
        elif key == "folds":
            value = _whole(value, where, 1, 1000)
        else:
            value = _whole(value, where, 0 if key in ("embargoBars", "purgeBars") else 1)
        out[WALK_FIELDS[key]] = value
    return out


def parse_sweep_body(body: Any, plugins: Plugins, settings: Settings) -> SweepDraft:
    """Check a start body against the registered strategies and feeds and the settings in force (the cap on sets,
    what feeds the API may read). Blocking (grid expansion): run it in a worker thread."""
    if not isinstance(body, Mapping):
        raise InputError("the body must be a JSON object {strategy, feed, options, grid | space, method, ...}")
    refuse_unencodable(body)
    for key in body:
        if key not in BODY_FIELDS:
            raise InputError(f"unknown field {str(key)[:40]!r} (allowed: {', '.join(BODY_FIELDS)})",
                             field=str(key)[:40])  # fmt: skip
    options = body.get("options", {})
    base = RunRequest.parse(
        {k: body[k] for k in ("strategy", "feed", "options") if k in body},
        plugins,
        FeedEnv(data_dir=settings.data_dir, restricted=True),
        default_gates=settings.risk_gates,
    )
    spec = plugins.strategy(base.strategy)
    grid, space = body.get("grid"), body.get("space")
    if grid is not None and space is not None:
        raise InputError("give grid or space, not both", field="space")
    method = body.get("method") or ("grid" if space is None else "random")
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {shown(method)}", field="method")
    seed = _whole(body.get("seed", 0), "seed", 0, 2**63 - 1)
    objective = body.get("objective", "sharpe")
    if not isinstance(objective, str):
        raise InputError(f"objective must be a stat name, got {shown(objective)}", field="objective")
    direction, colon, stat = objective.rpartition(":")
    objective = f"{direction}{colon}{snake(stat)}"
    parse_objective(objective)
    raw_constraints = body.get("constraints") or {}
    if not isinstance(raw_constraints, Mapping):
        raise InputError("constraints must map min<Stat>/max<Stat> to numbers", field="constraints")
    constraints = {snake(str(k)): v for k, v in raw_constraints.items()}
    try:
        parse_constraints(constraints)
    except InputError as exc:  # name the field as it was sent
        sent = {snake(str(k)): str(k) for k in raw_constraints}
        where = (exc.field or "constraints").partition(".")[2]
        raise InputError(
            exc.message, field=f"constraints.{sent.get(where, where)}" if where else "constraints"
        ) from None
    walk = _walk_forward(body.get("walkForward"))
    trials: int | None = None
    cap = settings.sweep_max_sets
    if method == "grid":
        if grid is None:
            raise InputError("a grid sweep takes grid {param: [values] | 'a:b:step'}", field="grid")
        if not isinstance(grid, Mapping) or not grid:
            raise InputError("grid must map parameter names to values or 'a:b:step' ranges", field="grid")
        sets, _ = expand_grid(spec, grid, max_sets=cap)
    else:
        if space is None:
            raise InputError(f"a {method} sweep takes space {{param: [low, high] | 'low:high[:step]'}}", field="space")
        if walk is not None and method == "tpe":
            raise InputError("a walk-forward searches by grid or random, not tpe", field="method")
        trials = _whole(body.get("trials"), "trials", 1, cap)
        dims = parse_space(spec, space)
        # the first draws are the sweep's own (one seeded generator): enough to tell a space nothing valid comes from
        drawn = sample_random(spec, dims, min(trials, PROBE_DRAWS), seed)[0] if method == "random" else [{}]
        sets = [{}] * trials if drawn else []
    if not sets:
        raise InputError("no valid parameter set to try (the strategy refuses every combination)",
                         field="grid" if method == "grid" else "space")  # fmt: skip
    chosen = {wire: py for wire, py in OPTION_FIELDS.items() if isinstance(options, Mapping) and wire in options}
    # the run's gates (options.gates, else the risk_gates setting): a gated sweep takes the generic path
    gates = {} if base.options.gates is None else {"gates": base.options.gates}
    return SweepDraft(
        kind="sweep" if walk is None else "walkforward",
        strategy=spec.name,
        feed_name=base.feed_name,
        feed_args=dict(base.feed_args),
        options={py: getattr(base.options, py) for py in chosen.values()} | gates,
        options_wire={wire: getattr(base.options, py) for wire, py in chosen.items()}
        | {k: g.to_json() for k, g in gates.items()},
        method=method,
        grid=None if grid is None else {str(k): v for k, v in grid.items()},
        space=None if space is None else {str(k): v for k, v in space.items()},
        trials=trials,
        seed=seed,
        objective=objective,
        constraints=constraints,
        walk_forward=walk,
        sets=len(sets),
        payload=dict(body),
    )
