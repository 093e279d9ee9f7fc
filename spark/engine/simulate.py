"""From a strategy's Intent to fills: checks the intent, lays it out as arrays, runs the compiled kernel.

A strategy hands over exactly one kind of intent: signal arrays, a target-position array, or emitted orders
(none at all is a run without trades). Emitted orders are checked here, each error naming the order's index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spark.engine import kernel, signal_kernel
from spark.engine.candles import Candles
from spark.engine.options import Options
from spark.engine.orders import Order
from spark.engine.strategy import Intent
from spark.errors import ParamError

__all__ = ["Simulation", "intent_kind", "simulate"]

_EMPTY_B = np.zeros(0, dtype=np.bool_)
_EMPTY_F = np.zeros(0, dtype=np.float64)
_EMPTY_I = np.zeros(0, dtype=np.int64)
_TYPES = {"market": kernel.MARKET, "limit": kernel.LIMIT, "stop": kernel.STOP}


@dataclass(frozen=True, slots=True)
class Simulation:
    """The kernel's raw output: per-bar equity and float tables (layouts in `spark.engine.kernel`); ``denied`` and
    ``gate_states`` are None for a run without risk gates."""

    equity: np.ndarray
    fills: np.ndarray
    trades: np.ndarray
    rejected: np.ndarray
    exposed_bars: int
    denied: np.ndarray | None = None
    gate_states: np.ndarray | None = None


def intent_kind(intent: Intent) -> str:
    """``signals``, ``target``, ``orders`` or ``none``; ParamError when more than one kind was handed over."""
    kinds = [
        name
        for name, given in (
            ("signals", intent.entries is not None),
            ("target", intent.target is not None),
            ("orders", bool(intent.orders)),
        )
        if given
    ]
    if len(kinds) > 1:
        raise ParamError(f"a strategy hands over one kind of intent, got {' and '.join(kinds)}")
    return kinds[0] if kinds else "none"


def simulate(candles: Candles, intent: Intent, options: Options) -> Simulation:
    """Run the fill loop for one intent. Pure: same inputs, bit-identical outputs."""
    n = len(candles)
    kind = intent_kind(intent)
    ent = ex = sent = sex = _EMPTY_B
    tgt = _EMPTY_F
    ob, oside, oqty, otype, oprice, osl, otp = _EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F
    per_bar = 8
    emit_index = _EMPTY_I
    if kind in ("signals", "none"):
        mode = kernel.SIGNALS
        if kind == "none":
            ent = ex = np.zeros(n, dtype=np.bool_)
        else:
            ent, ex = _column(intent.entries, n, "entries"), _column(intent.exits, n, "exits")
            if intent.short_entries is not None or intent.short_exits is not None:
                sent = (
                    _column(intent.short_entries, n, "short_entries")
                    if intent.short_entries is not None
                    else np.zeros(n, dtype=np.bool_)
                )
                sex = (
                    _column(intent.short_exits, n, "short_exits")
                    if intent.short_exits is not None
                    else np.zeros(n, dtype=np.bool_)
                )
    elif kind == "target":
        mode = kernel.TARGET
        tgt = np.ascontiguousarray(intent.target, dtype=np.float64)
        if tgt.shape != (n,) or not np.isfinite(tgt).all():
            raise ParamError(f"target needs one finite value per bar ({n})")
    else:
        mode = kernel.ORDERS
        (ob, oside, oqty, otype, oprice, osl, otp), emit_index = _orders(intent.orders, candles)
        per_bar = 4 * int(np.bincount(ob).max()) + 8
    costs = options.kernel_costs()
    orders = (ob, oside, oqty, otype, oprice, osl, otp)
    args = (
        candles.open,
        candles.high,
        candles.low,
        candles.close,
        mode,
        ent,
        ex,
        sent,
        sex,
        tgt,
        *orders,
        *costs,
        per_bar,
    )
    denied = states = None
    if mode == kernel.SIGNALS and options.gates is None:  # the commonest run, on its own lean loop
        equity, fills, trades, rejected, exposed = signal_kernel.run_signals(
            candles.open, candles.close, ent, ex, sent, sex, *costs
        )
    elif options.gates is None:
        equity, fills, trades, rejected, exposed = kernel.run_kernel(*args)
    else:
        equity, fills, trades, rejected, exposed, denied, states = kernel.run_gated(
            *args, options.gates.kernel_params()
        )
    if mode == kernel.ORDERS:  # back from sorted rows to the strategy's emit order
        for table, col in ((fills, 6), (rejected, 4), (denied, 6)):
            if table is not None:
                known = table[:, col] >= 0
                table[known, col] = emit_index[table[known, col].astype(np.int64)]
    return Simulation(
        equity=equity,
        fills=fills,
        trades=trades,
        rejected=rejected,
        exposed_bars=int(exposed),
        denied=denied,
        gate_states=states,
    )


def _column(values: np.ndarray | None, n: int, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.bool_)
    if arr.shape != (n,):
        raise ParamError(f"signals: {name} needs one value per bar ({n}), got shape {arr.shape}")
    return arr


def _orders(orders: list[Order], candles: Candles) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Check every order; return its columns sorted by bar (stable: same-bar orders keep their emit order) and
    the emit index of each sorted row."""
    n = len(candles)
    rows = [_order_row(i, order, candles, n) for i, order in enumerate(orders)]
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 7)
    emit_index = np.argsort(table[:, 0], kind="stable")
    table = table[emit_index]
    cols = tuple(np.ascontiguousarray(table[:, j]) for j in range(7))
    return (cols[0].astype(np.int64), cols[1], cols[2], cols[3].astype(np.int64), *cols[4:]), emit_index


def _order_row(i: int, order: Order, candles: Candles, n: int) -> tuple[float, ...]:
    where = f"orders[{i}]"

    def bad(message: str) -> ParamError:
        return ParamError(f"order {i}: {message}", field=where)

    if not isinstance(order, Order):
        raise bad(f"not an Order: {type(order).__name__}")
    if order.side not in ("buy", "sell"):
        raise bad(f"side must be buy or sell, got {order.side!r}")
    if order.type not in _TYPES:
        raise bad(f"type must be market, limit or stop, got {order.type!r}")
    if order.bar is None and order.ts is None:
        raise bad("give the bar index or the bar timestamp (ts) the order is decided at")
    bar = None
    if order.ts is not None:
        if isinstance(order.ts, bool) or not isinstance(order.ts, (int, np.integer)):
            raise bad(f"ts must be an integer timestamp in ms, got {order.ts!r}")
        bar = int(np.searchsorted(candles.timestamp, order.ts))
        if bar >= n or candles.timestamp[bar] != order.ts:
            raise bad(f"ts {order.ts} matches no bar's timestamp")
    if order.bar is not None:
        if isinstance(order.bar, bool) or not isinstance(order.bar, (int, np.integer)) or not 0 <= order.bar < n:
            raise bad(f"bar must be an index in 0..{n - 1}, got {order.bar!r}")
        if bar is not None and bar != order.bar:
            raise bad(f"bar {order.bar} and ts {order.ts} name different bars")
        bar = int(order.bar)
    qty = math.nan if order.qty is None else _positive(order.qty, "qty", bad)
    if order.type == "market":
        if order.price is not None:
            raise bad("a market order takes no price")
        price = math.nan
    else:
        if order.price is None:
            raise bad(f"a {order.type} order needs a price")
        price = _positive(order.price, "price", bad)
    sl = math.nan if order.stop_loss is None else _positive(order.stop_loss, "stop_loss", bad)
    tp = math.nan if order.take_profit is None else _positive(order.take_profit, "take_profit", bad)
    side = 1.0 if order.side == "buy" else -1.0
    return (float(bar), side, qty, float(_TYPES[order.type]), price, sl, tp)


def _positive(value: object, name: str, bad) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise bad(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise bad(f"{name} must be a finite number > 0, got {value!r}")
    return number
