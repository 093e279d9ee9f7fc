"""The engine's entry points: `collect` a strategy's intent, and `backtest` it into a BacktestResult.

Pure and deterministic: the same candles, strategy, params and options give the same result, byte for byte,
apart from the run id and ``started_at``, which the caller supplies (the engine has no clock and makes no ids).
"""

from __future__ import annotations

import hashlib
import json
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from spark.engine.candles import Candles
from spark.engine.gates import describe
from spark.engine.options import Options
from spark.engine.params import validate_params
from spark.engine.result import (
    BacktestResult,
    Report,
    denied_table,
    fill_table,
    gate_state_table,
    rejected_table,
    trade_table,
)
from spark.engine.simulate import intent_kind, simulate
from spark.engine.stats import compute_stats
from spark.engine.strategy import Intent, StrategyContext, StrategySpec
from spark.errors import ParamError, StrategyError

__all__ = ["ENGINE_VERSION", "backtest", "collect"]

ENGINE_VERSION = "1.0.0"


def collect(candles: Candles, spec: StrategySpec, params: Mapping[str, Any]) -> Intent:
    """Run the strategy function once and return what it handed over.

    Anything strategy code raises (or an intent mixing kinds) becomes StrategyError naming the strategy.
    The params mapping it sees is read-only.
    """
    ctx = StrategyContext(candles, types.MappingProxyType(dict(params)))
    try:
        spec.fn(ctx.params, ctx)
        intent_kind(ctx.intent)
    except Exception as exc:
        raise StrategyError(spec.name, exc) from exc
    return ctx.intent


def backtest(
    candles: Candles,
    spec: StrategySpec,
    params: Mapping[str, Any] | None = None,
    options: Options | None = None,
    *,
    run_id: str,
    started_at: int,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Run ``spec`` on ``candles`` with ``params`` (checked against the spec) and ``options``.

    ``run_id`` and ``started_at`` (epoch ms) come from the caller: the engine has no clock and makes no ids.
    ``progress``, if given, is called with the name of each phase as it ends: "strategy", "simulated", "stats".
    Raises ParamError (bad params/options/orders), StrategyError (the strategy failed).
    """
    if not isinstance(candles, Candles):
        raise ParamError(f"candles must be a Candles object, got {type(candles).__name__}", field="candles")
    options = Options() if options is None else options
    if not isinstance(options, Options):
        raise ParamError(f"options must be an Options object, got {type(options).__name__}", field="options")
    checked = validate_params(spec.params, params, check=spec.check)

    phase_done = progress if progress is not None else _quiet
    intent = collect(candles, spec, checked)
    phase_done("strategy")
    sim = simulate(candles, intent, options)
    phase_done("simulated")
    stats, dd = compute_stats(
        equity=sim.equity,
        trades=sim.trades,
        fills=sim.fills,
        rejected=len(sim.rejected),
        exposed_bars=sim.exposed_bars,
        candles=candles,
        options=options,
    )
    if sim.denied is not None:  # a run with risk gates
        stats["denied_orders"] = int((sim.denied[:, 2] == 1.0).sum())
        stats["logged_violations"] = int((sim.denied[:, 2] == 0.0).sum())
    phase_done("stats")
    close = candles.close
    if close[0] > 0:  # cash * close / close[0], computed in one array (no temporary the series' length)
        benchmark = np.multiply(close, float(options.cash))
        benchmark /= close[0]
    else:
        benchmark = np.full(len(close), options.cash)
    for arr in (sim.equity, dd, sim.fills, sim.trades, sim.rejected, benchmark, sim.denied, sim.gate_states):
        if arr is not None:
            arr.flags.writeable = False
    ts = candles.timestamp
    report = Report(
        stats=stats,
        trades=trade_table(sim.trades, ts),
        equity=sim.equity,
        drawdown_pct=dd,
        fills=fill_table(sim.fills, ts),
        rejected=rejected_table(sim.rejected, ts),
        timestamp=ts,
        benchmark=benchmark,
        denied=None if sim.denied is None else denied_table(sim.denied, ts),
        gate_states=None if sim.gate_states is None else gate_state_table(sim.gate_states, ts),
    )
    opts = options.to_json()
    metadata: dict[str, Any] = {
        "symbol": candles.symbol,
        "timeframe": candles.timeframe,
        "candle_count": len(candles),
        "data_hash": candles.fingerprint,
        "data_source": candles.source,
        "start_time": int(ts[0]),
        "end_time": int(ts[-1]),
        "strategy": {"name": spec.name, "version": spec.version},
        "params": checked,
        "options": opts,
        "intent": intent_kind(intent),
        "engine_version": ENGINE_VERSION,
        "fingerprint": fingerprint(candles, spec, checked, opts),
        # hashed in place (the buffer itself, no bytes copy): the same digest as over .tobytes()
        "orders_hash": hashlib.sha256(np.ascontiguousarray(sim.fills, dtype="<f8")).hexdigest(),
        "semantics": semantics(options, stats["annualisation"]),
        "started_at": started_at,
    }
    return BacktestResult(id=run_id, report=report, metadata=metadata)


def _quiet(phase: str) -> None:
    return None


def fingerprint(candles: Candles, spec: StrategySpec, params: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """sha256 over the candle data's hash, strategy name and version, params, options and engine version, in a
    canonical form: numbers as floats (``size=1`` and ``1.0`` are one run), keys sorted, the default sizing made
    explicit (neither ``size`` nor ``size_pct`` given is ``size=1``). The same run gives the same fingerprint from
    the CLI, the Python API and the service."""
    opts = dict(options)
    if opts.get("size") is None and opts.get("size_pct") is None:
        opts["size"] = 1.0
    doc = {
        "candles": candles.fingerprint,
        "strategy": spec.name,
        "version": spec.version,
        "params": _canonical(dict(params)),
        "options": _canonical(opts),
        "engine": ENGINE_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """Numbers as floats (bools stay bools), mappings with string keys, sequences as lists, anything else as text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return str(value)


def semantics(options: Options, basis: str) -> dict[str, str]:
    """The rules this run was simulated under, in words (stated in every result)."""
    fill = (
        "market orders decided at bar t's close fill at bar t+1's open; an order on the last bar is not filled"
        if options.fill == "next_open"
        else "market orders decided at bar t's close fill at bar t's close"
    )
    out = {
        "fill": fill,
        "limit_stop": "limit/stop orders work from the next bar until filled or replaced by the strategy's next "
        "limit/stop order; they fill at their price, or at the open when the bar gaps through it",
        "stop_loss_take_profit": "checked from the fill (the fill bar itself for a fill at the open); a gap fills "
        "at the open; a bar touching both is resolved stop first",
        "costs": f"fee {options.fee:g} of traded value on every fill; slippage {options.slippage_bps:g} bps "
        "against the trader on every fill",
        "cash": "margin allowed"
        if options.margin
        else "no margin: an order that would leave cash below zero (long) or a short not backed 1:1 by equity "
        "is rejected; closing orders always fill",
        "end": "a position open at the end is marked at the last close (no exit fee) and counts in total_trades",
        "annualisation": basis,
    }
    if options.gates is not None:
        out["gates"] = describe(options.gates)
    return out
