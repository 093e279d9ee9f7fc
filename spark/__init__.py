"""Spark: deterministic, fast backtests of trading strategies, and a service that runs them.

The Python API::

    import spark
    candles = spark.load_candles("GOOG.csv")
    result = spark.run_backtest(candles, strategy="sma_cross", params={"fast": 10, "slow": 30}, fee=0.001, size=1)
    result.report.stats["final_equity"], result.report.trades, result.report.equity, result.metadata
"""

from spark.engine import BacktestResult, Candles, Gates, Order, Param, Plot, StrategyContext, StrategySpec
from spark.errors import SparkError
from spark.plugin.feeds import FeedEnv, FeedSpec
from spark.plugin.hookspecs import hookimpl
from spark.research.result import SweepResult
from spark.research.sweep import run_sweep
from spark.research.walkforward import WalkForwardResult, run_walkforward
from spark.service.datafiles import load_candles
from spark.service.runner import run_backtest

__all__ = [
    "BacktestResult",
    "Candles",
    "FeedEnv",
    "FeedSpec",
    "Gates",
    "Order",
    "Param",
    "Plot",
    "SparkError",
    "StrategyContext",
    "StrategySpec",
    "SweepResult",
    "WalkForwardResult",
    "hookimpl",
    "load_candles",
    "run_backtest",
    "run_sweep",
    "run_walkforward",
]
__version__ = "0.1.0"
