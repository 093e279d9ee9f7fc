"""What a backtest returns: fills, trades, rejected and denied orders, the report and the result with its metadata.

Fills, trades and rejections are held as the kernel's numpy tables and turned into frozen dataclasses only when
read (a million-bar run may have tens of thousands of trades; building them all would cost more than the run).
On the wire (``to_dict``/``to_json``) every key is camelCase, as in the seeds; strategy parameter names are the
strategy's own and are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

import numpy as np

from spark.engine.gates import GATE_ORDER, STATES, denial_reason
from spark.engine.kernel import REASONS

__all__ = [
    "SCHEMA_VERSION",
    "BacktestResult",
    "Denied",
    "Fill",
    "GateState",
    "Rejected",
    "Report",
    "Table",
    "Trade",
    "camel",
]

T = TypeVar("T")
SCHEMA_VERSION = 2  # 2: the result document carries no per-bar arrays (1 had timestamp, equity, drawdownPct)


def camel(name: str) -> str:
    """``max_drawdown_pct`` -> ``maxDrawdownPct``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _wire(obj: Any) -> dict[str, Any]:
    return {camel(k): getattr(obj, k) for k in obj.__dataclass_fields__}


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution. ``order`` is the emitted order's index (None for signal/target intents)."""

    bar: int
    ts: int
    side: Literal["buy", "sell"]
    qty: float
    price: float
    fee: float
    reason: str
    order: int | None
    trade: int

    def to_json(self) -> dict[str, Any]:
        return _wire(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """A position from flat to flat. ``qty`` is the units entered over the trade (its size, for a plain round
    trip); prices are volume-weighted over its entry (exit) fills; ``pnl`` is net of every fee; an ``open`` trade
    is marked at the last close (``exit_*`` None, ``pnl`` unrealised)."""

    id: int
    side: Literal["long", "short"]
    qty: float
    entry_price: float
    exit_price: float | None
    entry_ts: int
    exit_ts: int | None
    entry_bar: int
    exit_bar: int | None
    pnl: float
    fees: float
    open: bool

    def to_json(self) -> dict[str, Any]:
        return _wire(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """An order (or the opening part of a reversing order) the account could not carry."""

    bar: int
    ts: int
    side: Literal["buy", "sell"]
    qty: float
    price: float
    order: int | None
    reason: str = "insufficient_cash"

    def to_json(self) -> dict[str, Any]:
        return _wire(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Denied:
    """An order (or a reversing order's opening part) that met a risk gate: ``action`` "deny" (not filled) or
    "log" (filled all the same). ``value`` is what the gate measured (a notional, a drawdown %, a count, the
    position after the fill, the cooldown's last bar) and ``limit`` the gate's limit; ``reason`` says it in words."""

    bar: int
    ts: int
    gate: str
    reason: str
    order: int | None
    action: Literal["deny", "log"]
    side: Literal["buy", "sell"]
    qty: float
    price: float
    value: float
    limit: float

    def to_json(self) -> dict[str, Any]:
        return _wire(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateState:
    """A change of the account state (ACTIVE, REDUCING, HALTED) at the close of ``bar``, with the drawdown then."""

    bar: int
    ts: int
    from_state: str
    to_state: str
    drawdown_pct: float

    def to_json(self) -> dict[str, Any]:
        return {
            "bar": self.bar,
            "ts": self.ts,
            "from": self.from_state,
            "to": self.to_state,
            "drawdownPct": self.drawdown_pct,
        }


# the columns of the kernel's tables (`spark.engine.kernel`), as `Table.names` gives them
FILL_NAMES = ("bar", "side", "qty", "price", "fee", "reason", "order", "trade_id")
TRADE_NAMES = ("id", "side", "qty", "entry_bar", "exit_bar", "entry_price", "exit_price", "pnl", "fees", "open")
REJECTED_NAMES = ("bar", "side", "qty", "price", "order")
DENIED_NAMES = ("bar", "gate", "denied", "side", "qty", "price", "order", "value", "limit")
STATE_NAMES = ("bar", "from_state", "to_state", "drawdown_pct")


class Table(Sequence[T], Generic[T]):
    """A read-only sequence over a numpy table; each row becomes a dataclass when it is read."""

    __slots__ = ("_make", "_names", "_rows")

    def __init__(self, rows: np.ndarray, make: Callable[[np.ndarray], T], names: tuple[str, ...] = ()) -> None:
        self._rows, self._make, self._names = rows, make, names

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self._make(row) for row in self._rows[i]]
        return self._make(self._rows[i])

    def __iter__(self) -> Iterator[T]:
        return (self._make(row) for row in self._rows)

    def __repr__(self) -> str:
        return f"<Table of {len(self)}>"

    @property
    def array(self) -> np.ndarray:
        """The raw table (read-only, float64, one row per item), columns named by `names`: the columnar way to
        read a large table (no object per row)."""
        return self._rows

    @property
    def names(self) -> tuple[str, ...]:
        """The names of `array`'s columns, in order (trades: id, side (+1 long / -1 short), qty, entry_bar,
        exit_bar (-1: open), entry_price, exit_price (NaN: open), pnl, fees, open (1.0: still open))."""
        return self._names

    def columns(self) -> dict[str, np.ndarray]:
        """Each column by name, as views of `array`."""
        return {name: self._rows[:, i] for i, name in enumerate(self._names)}

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame with the `names` as columns (needs pandas installed)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover (depends on the environment)
            raise ImportError("to_pandas() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.columns())


def _side(x: float, buy: str, sell: str) -> Any:
    return buy if x > 0 else sell


def fill_table(fills: np.ndarray, ts: np.ndarray) -> Table[Fill]:
    def make(r: np.ndarray) -> Fill:
        bar = int(r[0])
        return Fill(
            bar=bar,
            ts=int(ts[bar]),
            side=_side(r[1], "buy", "sell"),
            qty=float(r[2]),
            price=float(r[3]),
            fee=float(r[4]),
            reason=REASONS[int(r[5])],
            order=None if r[6] < 0 else int(r[6]),
            trade=int(r[7]),
        )

    return Table(fills, make, FILL_NAMES)


def trade_table(trades: np.ndarray, ts: np.ndarray) -> Table[Trade]:
    def make(r: np.ndarray) -> Trade:
        is_open = bool(r[9] == 1.0)
        entry, exit_ = int(r[3]), int(r[4])
        return Trade(
            id=int(r[0]),
            side=_side(r[1], "long", "short"),
            qty=float(r[2]),
            entry_price=float(r[5]),
            exit_price=None if is_open else float(r[6]),
            entry_ts=int(ts[entry]),
            exit_ts=None if is_open else int(ts[exit_]),
            entry_bar=entry,
            exit_bar=None if is_open else exit_,
            pnl=float(r[7]),
            fees=float(r[8]),
            open=is_open,
        )

    return Table(trades, make, TRADE_NAMES)


def rejected_table(rejected: np.ndarray, ts: np.ndarray) -> Table[Rejected]:
    def make(r: np.ndarray) -> Rejected:
        bar = int(r[0])
        return Rejected(
            bar=bar,
            ts=int(ts[bar]),
            side=_side(r[1], "buy", "sell"),
            qty=float(r[2]),
            price=float(r[3]),
            order=None if r[4] < 0 else int(r[4]),
        )

    return Table(rejected, make, REJECTED_NAMES)


def denied_row(r: np.ndarray, ts: int) -> Denied:
    """One row of the kernel's denied table (`spark.engine.kernel.DEN_COLS`) as a record."""
    gate = GATE_ORDER[int(r[1])]
    return Denied(
        bar=int(r[0]),
        ts=ts,
        gate=gate,
        reason=denial_reason(gate, float(r[7]), float(r[8])),
        order=None if r[6] < 0 else int(r[6]),
        action="deny" if r[2] == 1.0 else "log",
        side=_side(r[3], "buy", "sell"),
        qty=float(r[4]),
        price=float(r[5]),
        value=float(r[7]),
        limit=float(r[8]),
    )


def denied_table(denied: np.ndarray, ts: np.ndarray) -> Table[Denied]:
    return Table(denied, lambda r: denied_row(r, int(ts[int(r[0])])), DENIED_NAMES)


def gate_state_table(states: np.ndarray, ts: np.ndarray) -> Table[GateState]:
    def make(r: np.ndarray) -> GateState:
        bar = int(r[0])
        return GateState(
            bar=bar,
            ts=int(ts[bar]),
            from_state=STATES[int(r[1])],
            to_state=STATES[int(r[2])],
            drawdown_pct=float(r[3]),
        )

    return Table(states, make, STATE_NAMES)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Report:
    """Stats (snake_case keys), trades, per-bar equity and drawdown (percent), fills and rejected orders, and the
    buy-and-hold benchmark per bar (the starting cash in the instrument at the first close, no costs: the curve
    behind ``buy_and_hold_return_pct``). A run with risk gates also has ``denied`` (orders that met a gate) and
    ``gate_states`` (the account's state changes); both None without gates."""

    stats: dict[str, Any]
    trades: Table[Trade]
    equity: np.ndarray
    drawdown_pct: np.ndarray
    fills: Table[Fill]
    rejected: Table[Rejected]
    timestamp: np.ndarray
    benchmark: np.ndarray | None = None
    denied: Table[Denied] | None = None
    gate_states: Table[GateState] | None = None

    def summary(self) -> dict[str, Any]:
        """The stats with camelCase keys: what a run record carries."""
        return {camel(k): v for k, v in self.stats.items()}

    def to_dict(self) -> dict[str, Any]:
        out = {
            "stats": self.summary(),
            "trades": [t.to_json() for t in self.trades],
            "fills": [f.to_json() for f in self.fills],
            "rejected": [r.to_json() for r in self.rejected],
        }
        if self.denied is not None:
            out["denied"] = [d.to_json() for d in self.denied]
        if self.gate_states is not None:
            out["gateStates"] = [g.to_json() for g in self.gate_states]
        return out


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class BacktestResult:
    """``{id, report, metadata}`` as in the seed; ``metadata`` keys are snake_case here, camelCase on the wire."""

    id: str
    report: Report
    metadata: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return self.report.summary()

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        """The wire document (schema SCHEMA_VERSION): stats, trades, fills and rejected orders, never per-bar arrays
        (equity and drawdown per bar are `report.equity` and `report.drawdown_pct`, and in evidence a compact
        series file). ``arrays=False`` leaves out the per-trade lists too: ``{id, report: {stats}, metadata}``,
        what a detail view shows at once."""
        report = self.report.to_dict() if arrays else {"stats": self.report.summary()}
        return {
            "schemaVersion": SCHEMA_VERSION,
            "id": self.id,
            "report": report,
            "metadata": _camel_meta(self.metadata),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """JSON text; refuses NaN/infinity (the engine never produces them)."""
        return json.dumps(self.to_dict(), allow_nan=False, indent=indent, separators=None if indent else (",", ":"))


def _camel_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, dict) and key != "params":
            value = _camel_meta(value)
        out[camel(key)] = value
    return out
