"""Many parameter sets over one candle series: the fast-path contract, the indicator cache, and the stats table.

A strategy's fast path (``StrategySpec.sweep``) is ``fn(params, indicators) -> SignalRule``: it fetches its
indicators from the per-series cache (computed once per distinct window, whatever the number of sets using it)
and names the rule the compiled pass evaluates per bar (`spark.engine.sweep_kernel`). A strategy without one is
swept through the generic path: its own function per set, then the same pass over the arrays it handed over
(signals), or the full fill kernel without keeping its tables (targets and orders).

Every path ends in one row of accumulators per set; `stats_table` turns them into the summary stats with
`run_backtest`'s names and formulas (`spark.engine.stats.compute_stats`), as a numpy structured array.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spark.engine import sweep_kernel as sk
from spark.engine.backtest import collect
from spark.engine.candles import Candles
from spark.engine.options import Options
from spark.engine.simulate import intent_kind, simulate
from spark.engine.stats import annualisation
from spark.engine.strategy import StrategySpec

__all__ = [
    "GATE_STATS",
    "INT_STATS",
    "STATS",
    "Indicators",
    "SignalRule",
    "evaluate_sets",
    "row_stats",
    "stats_table",
    "window",
]

# the summary stats of run_backtest, in its order, that vary per set (periods_per_year and annualisation do not)
STATS = (
    "final_equity",
    "pnl",
    "return_pct",
    "total_trades",
    "open_trades",
    "closed_trades",
    "win_rate",
    "avg_pnl",
    "max_drawdown_pct",
    "max_drawdown_duration_bars",
    "max_drawdown_duration_ms",
    "profit_factor",
    "expectancy",
    "sharpe",
    "sortino",
    "cagr_pct",
    "calmar",
    "exposure_pct",
    "fees_paid",
    "buy_and_hold_return_pct",
    "rejected_orders",
)
GATE_STATS = ("denied_orders", "logged_violations")  # only in runs (and sweeps) with risk gates
INT_STATS = frozenset(
    {
        *GATE_STATS,
        "total_trades",
        "open_trades",
        "closed_trades",
        "max_drawdown_duration_bars",
        "max_drawdown_duration_ms",
        "rejected_orders",
    }
)
_EMPTY_B = np.zeros(0, dtype=np.bool_)
_EMPTY_F = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class SignalRule:
    """What a fast path hands the compiled pass for one parameter set. Build it with `cross`, `level` or
    `signals`; arrays are one float (or bool) per bar."""

    rule: int
    ea: np.ndarray | None = None
    eb: np.ndarray | None = None
    xa: np.ndarray | None = None
    xb: np.ndarray | None = None
    lower: float = math.nan
    upper: float = math.nan
    entries: np.ndarray | None = None
    exits: np.ndarray | None = None
    short_entries: np.ndarray | None = None
    short_exits: np.ndarray | None = None

    @classmethod
    def cross(cls, enter_a: np.ndarray, enter_b: np.ndarray, exit_a: np.ndarray, exit_b: np.ndarray) -> SignalRule:
        """Enter long when ``enter_a`` crosses strictly above ``enter_b``; exit when ``exit_a`` crosses strictly
        below ``exit_b`` (``crossed_above(enter_a, enter_b)``, ``crossed_below(exit_a, exit_b)``)."""
        return cls(
            sk.RULE_CROSS, *(np.ascontiguousarray(a, dtype=np.float64) for a in (enter_a, enter_b, exit_a, exit_b))
        )

    @classmethod
    def level(cls, series: np.ndarray, lower: float, upper: float) -> SignalRule:
        """Enter long when ``series < lower``; exit when ``series > upper``."""
        return cls(sk.RULE_LEVEL, ea=np.ascontiguousarray(series, dtype=np.float64), lower=lower, upper=upper)

    @classmethod
    def signals(
        cls,
        entries: np.ndarray,
        exits: np.ndarray,
        short_entries: np.ndarray | None = None,
        short_exits: np.ndarray | None = None,
    ) -> SignalRule:
        """The signal arrays themselves, as ``ctx.signals`` takes them."""
        n = len(entries)
        shorts = short_entries is not None or short_exits is not None

        def col(a: np.ndarray | None) -> np.ndarray:
            return np.zeros(n, dtype=np.bool_) if a is None else np.ascontiguousarray(a, dtype=np.bool_)

        return cls(
            sk.RULE_BOOL,
            entries=col(entries),
            exits=col(exits),
            short_entries=col(short_entries) if shorts else None,
            short_exits=col(short_exits) if shorts else None,
        )


class Indicators:
    """A per-series cache of indicator arrays, so a sweep computes each distinct window once.

    ``get(key, compute)`` returns the cached array for ``key`` (any hashable, e.g. ``("sma", 20)``) or stores
    ``compute()``. Least recently used arrays are dropped past ``budget_bytes`` (the sweep's memory stays bounded).
    """

    def __init__(self, candles: Candles, budget_bytes: int = 128 * 2**20) -> None:
        self.candles = candles
        self.budget = budget_bytes
        self._cache: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        arr = np.asarray(compute())
        arr.flags.writeable = False
        self._cache[key] = arr
        self._bytes += arr.nbytes
        while self._bytes > self.budget and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.nbytes
        return arr


def window(candles: Candles, start: int, stop: int) -> Candles:
    """Bars ``start..stop-1`` as views (no copy)."""
    return Candles(
        timestamp=candles.timestamp[start:stop],
        open=candles.open[start:stop],
        high=candles.high[start:stop],
        low=candles.low[start:stop],
        close=candles.close[start:stop],
        volume=candles.volume[start:stop],
        symbol=candles.symbol,
        timeframe=candles.timeframe,
        source=candles._source,
    )


def evaluate_sets(
    candles: Candles,
    spec: StrategySpec,
    sets: Sequence[Mapping[str, Any]],
    options: Options,
    *,
    indicators: Indicators | None = None,
    start: int = 0,
) -> np.ndarray:
    """One row of accumulators (`spark.engine.sweep_kernel.ACC_NAMES`) per set, in order. Sets are validated
    params. ``start`` masks decisions before that bar (warm-up). Raises StrategyError when strategy code fails."""
    ind = indicators if indicators is not None else Indicators(candles)
    out = np.zeros((len(sets), sk.ACC_COLS))
    args = options.kernel_costs()
    gated = options.gates is not None  # risk gates live in the full kernel only
    for i, params in enumerate(sets):
        if gated:
            out[i] = _full(candles, collect(candles, spec, params), options, start)
            continue
        if spec.sweep is not None:
            rule = spec.sweep(params, ind)
        else:
            intent = collect(candles, spec, params)
            kind = intent_kind(intent)
            if kind in ("target", "orders"):
                out[i] = _full(candles, intent, options, start)
                continue
            if kind == "none":
                rule = SignalRule.signals(np.zeros(len(candles), bool), np.zeros(len(candles), bool))
            else:
                rule = SignalRule.signals(intent.entries, intent.exits, intent.short_entries, intent.short_exits)
        c = candles
        sk.signal_stats(
            c.open,
            c.high,
            c.low,
            c.close,
            rule.rule,
            _EMPTY_B if rule.entries is None else rule.entries,
            _EMPTY_B if rule.exits is None else rule.exits,
            _EMPTY_B if rule.short_entries is None else rule.short_entries,
            _EMPTY_B if rule.short_exits is None else rule.short_exits,
            _EMPTY_F if rule.ea is None else rule.ea,
            _EMPTY_F if rule.eb is None else rule.eb,
            _EMPTY_F if rule.xa is None else rule.xa,
            _EMPTY_F if rule.xb is None else rule.xb,
            float(rule.lower),
            float(rule.upper),
            int(start),
            *args,
            out[i],
        )
    return out


def _full(candles: Candles, intent: Any, options: Options, start: int) -> np.ndarray:
    if start > 0:
        if intent.target is not None:
            intent.target = intent.target.copy()
            intent.target[:start] = 0.0
        intent.orders = [o for o in intent.orders if (o.bar if o.bar is not None else start) >= start]
    sim = simulate(candles, intent, options)
    return sk.accumulate_tables(
        sim.equity, sim.trades, sim.fills, len(sim.rejected), sim.exposed_bars, options.cash, sim.denied
    )


def stats_table(acc: np.ndarray, candles: Candles, options: Options) -> tuple[np.ndarray, float | None, str]:
    """The stats of every row of accumulators, as a structured array (NaN where run_backtest says None), with
    the periods per year and the annualisation basis they share. Formulas: `spark.engine.stats.compute_stats`."""
    cash = float(options.cash)
    n = len(candles)
    ppy, basis = annualisation(candles, options)
    a = {name: acc[:, k] for k, name in enumerate(sk.ACC_NAMES)}
    m = len(acc)
    nan = np.full(m, np.nan)
    closed = a["closed"]
    final = a["final"]
    with np.errstate(all="ignore"):
        has = closed > 0
        std = np.sqrt(a["m2"] / (n - 1)) if n >= 2 else np.zeros(m)
        downside = np.sqrt(a["down2"] / n)
        ok = a["ok"] == 1.0
        if ppy is not None:
            root = math.sqrt(ppy)
            sharpe = np.where(ok & (std > 0), a["mean"] / std * root, np.nan)
            sortino = np.where(ok & (downside > 0), a["mean"] / downside * root, np.nan)
            cagr = np.where(ok, ((final / cash) ** (ppy / n) - 1.0) * 100.0, np.nan)
        else:
            sharpe = sortino = cagr = nan
        max_dd = a["max_dd"]
        end = a["dd_end"].astype(np.int64)
        begin = np.maximum(a["dd_start"].astype(np.int64), 0)
        ts = candles.timestamp
        dd_ms = np.where(end < 0, 0, ts[np.maximum(end, 0)] - ts[begin])
        first = float(candles.close[0])
        bh = (float(candles.close[-1]) / first - 1.0) * 100.0 if first > 0 else math.nan
        cols: dict[str, np.ndarray] = {
            "final_equity": final,
            "pnl": final - cash,
            "return_pct": (final - cash) / cash * 100.0,
            "total_trades": closed + a["open"],
            "open_trades": a["open"],
            "closed_trades": closed,
            "win_rate": np.where(has, a["wins"] / closed, np.nan),
            "avg_pnl": np.where(has, a["sum_pnl"] / closed, np.nan),
            "max_drawdown_pct": max_dd,
            "max_drawdown_duration_bars": a["dd_bars"],
            "max_drawdown_duration_ms": dd_ms,
            "profit_factor": np.where(a["gross_loss"] > 0, a["gross_win"] / a["gross_loss"], np.nan),
            "expectancy": np.where(has & (a["bad_notional"] == 0), a["sum_ratio"] / closed, np.nan),
            "sharpe": sharpe,
            "sortino": sortino,
            "cagr_pct": cagr,
            "calmar": np.where(np.isfinite(cagr) & (max_dd > 0), cagr / max_dd, np.nan),
            "exposure_pct": a["exposed"] / n * 100.0,
            "fees_paid": a["fees"],
            "buy_and_hold_return_pct": np.full(m, bh),
            "rejected_orders": a["rejected"],
        }
    names = STATS + GATE_STATS if options.gates is not None else STATS
    cols["denied_orders"], cols["logged_violations"] = a["denied"], a["logged"]
    table = np.empty(m, dtype=[(name, np.int64 if name in INT_STATS else np.float64) for name in names])
    for name in names:
        col = cols[name]
        if name in INT_STATS:
            table[name] = col.astype(np.int64)
        else:
            table[name] = np.where(np.isfinite(col), col, np.nan)
    return table, ppy, basis


def row_stats(row: np.void, ppy: float | None, basis: str) -> dict[str, Any]:
    """One table row as run_backtest's stats dict: plain Python numbers, None where undefined."""
    out: dict[str, Any] = {}
    for name in STATS:
        value = row[name]
        if name in INT_STATS:
            out[name] = int(value)
        else:
            v = float(value)
            out[name] = v if math.isfinite(v) else None
    out["periods_per_year"] = ppy
    out["annualisation"] = basis
    for name in GATE_STATS:  # after the rest, as run_backtest adds them
        if name in (row.dtype.names or ()):
            out[name] = int(row[name])
    return out
