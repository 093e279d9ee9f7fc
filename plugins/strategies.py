"""Built-in strategies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from spark import StrategyContext, StrategySpec, hookimpl


def buy_and_hold(params: Mapping[str, Any], ctx: StrategyContext) -> None:
    """Enter on the first bar, never exit: the benchmark every strategy should beat."""
    n = len(ctx.candles)
    entries = np.zeros(n, dtype=bool)
    entries[0] = True
    ctx.signals(entries, np.zeros(n, dtype=bool))


@hookimpl
def register_strategies(register: Callable[[StrategySpec], None]) -> None:
    register(StrategySpec(name="buy_and_hold", fn=buy_and_hold, help="Buy on the first bar and hold."))
