"""The engine: pure and deterministic. Candles in, a BacktestResult out; no trio, no I/O, no globals."""

from spark.engine.candles import COLUMNS, Candles
from spark.engine.options import Options
from spark.engine.orders import Order
from spark.engine.params import Param, validate_params
from spark.engine.strategy import Intent, StrategyContext, StrategySpec

__all__ = ["COLUMNS", "Candles", "Intent", "Options", "Order", "Param", "StrategyContext", "StrategySpec",
           "validate_params"]
