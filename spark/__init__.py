"""Spark: deterministic, fast backtests of trading strategies, and a service that runs them."""

from spark.engine import Candles, Order, Param, StrategyContext, StrategySpec
from spark.errors import SparkError
from spark.feeds import FeedEnv, FeedSpec
from spark.hookspecs import hookimpl

__all__ = ["Candles", "FeedEnv", "FeedSpec", "Order", "Param", "SparkError", "StrategyContext", "StrategySpec",
           "hookimpl"]
__version__ = "0.1.0"
