"""The lookahead check a change request's evidence is held to: a strategy's output on the first k bars must equal
the first k of its output on all bars (the engine's rule, DESIGN.md "Engine semantics"), checked on prefixes of the
run's own data. Blocking and CPU-bound: the service runs it in a worker process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spark.engine import Candles, Intent, StrategySpec, collect
from spark.errors import SparkError

__all__ = ["check", "check_run", "prefixes"]

FIELDS = ("entries", "exits", "short_entries", "short_exits", "target")


def prefixes(n: int) -> list[int]:
    """Where to cut a series of ``n`` bars: a few spread points, small ones included (warm-up edges)."""
    return sorted({k for k in (2, 7, 31, n // 5, n // 3, n // 2, (2 * n) // 3, n - 1) if 1 <= k < n})


def _differs(full: Intent, part: Intent, k: int) -> str | None:
    for name in FIELDS:
        a, b = getattr(full, name), getattr(part, name)
        if (a is None) != (b is None):
            return f"{name} handed over on {k} bars but not on all (or the other way round)"
        if a is not None and not np.array_equal(np.asarray(a)[:k], np.asarray(b), equal_nan=True):
            bar = int(np.flatnonzero(np.asarray(a)[:k] != np.asarray(b))[0]) if len(b) == k else 0
            return f"{name} at bar {bar} differs between the first {k} bars and the whole series"
    early = [o for o in full.orders if o.bar is not None and o.bar < k]
    if early != [o for o in part.orders if o.bar is not None and o.bar < k]:
        return f"orders before bar {k} differ between the first {k} bars and the whole series"
    return None


def check(spec: StrategySpec, params: Mapping[str, Any], candles: Candles) -> tuple[bool, str]:
    """(True, what was checked) when the strategy's output is prefix-invariant on ``candles``; (False, where it
    looks ahead) otherwise, or when the strategy fails on a prefix."""
    try:
        full = collect(candles, spec, params)
        cuts = prefixes(len(candles))
        for k in cuts:
            problem = _differs(full, collect(candles.head(k), spec, params), k)
            if problem is not None:
                return False, f"looks ahead: {problem}"
    except SparkError as exc:
        return False, f"the strategy failed on a prefix of its data: {exc.message}"
    return True, f"the output on {len(cuts)} prefixes of {len(candles)} bars equals the output's prefixes"


def check_run(
    plugin_set: Any, strategy: str, params: dict[str, Any], feed: str, feed_args: dict[str, Any], data_dir: str
) -> tuple[bool, str]:
    """In a worker process: the lookahead check on a run's data read again through its feed (plain, picklable
    arguments)."""
    from pathlib import Path

    from spark.plugin.feeds import FeedEnv
    from spark.plugin.manager import build_plugins

    plugins = build_plugins(plugin_set)
    try:
        spec = plugins.strategy(strategy)
        candles = plugins.feed(feed).load(feed_args, FeedEnv(data_dir=Path(data_dir), restricted=True))
    except SparkError as exc:
        return False, f"the run's data cannot be read again: {exc.message}"
    return check(spec, params, candles)
