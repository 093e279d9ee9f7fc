"""The engine: pure and deterministic. Candles in, a BacktestResult out; no trio, no I/O, no globals."""

from spark.engine.backtest import ENGINE_VERSION, backtest, collect
from spark.engine.candles import COLUMNS, Candles
from spark.engine.csvtext import equity_csv, trades_csv
from spark.engine.gates import Gates
from spark.engine.options import Options
from spark.engine.orders import Order
from spark.engine.params import Param, validate_params
from spark.engine.result import (
    BacktestResult,
    Denied,
    Fill,
    GateState,
    Rejected,
    Report,
    Trade,
)
from spark.engine.strategy import Intent, Plot, StrategyContext, StrategySpec

__all__ = [
    "COLUMNS",
    "ENGINE_VERSION",
    "BacktestResult",
    "Candles",
    "Denied",
    "Fill",
    "GateState",
    "Gates",
    "Intent",
    "Options",
    "Order",
    "Param",
    "Plot",
    "Rejected",
    "Report",
    "StrategyContext",
    "StrategySpec",
    "Trade",
    "backtest",
    "collect",
    "equity_csv",
    "trades_csv",
    "validate_params",
]
