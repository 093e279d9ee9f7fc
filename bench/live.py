"""Benchmark: the cost of one live-session step (a paper book re-running the engine over its whole series).

For series of 1,000 .. 100,000 one-minute candles (a sine-wave walk, SMA cross 10/30), prints the time of one step
(one candle appended, the engine re-run over the series, the diff taken) beside the reference measured in the same
run: one plain backtest over the same number of candles. The ratio says what the session's bookkeeping costs on top
of the engine; the absolute figure says how long a candle waits before its fills are known.

    python bench/live.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

from spark.engine.backtest import backtest
from spark.engine.options import Options
from spark.market.paper import PaperBook, candles_of
from spark.market.source import LiveCandle
from spark.plugin.manager import build_plugins, scan_plugins


def series(n: int) -> list[LiveCandle]:
    rows, prev = [], 100.0
    for i in range(n):
        close = 100.0 + 5 * math.sin(i / 17) + 3 * math.sin(i / 101)
        rows.append(
            LiveCandle(
                ts=1_700_000_000_000 + 60_000 * i,
                open=prev,
                high=max(prev, close) + 0.1,
                low=min(prev, close) - 0.1,
                close=close,
                volume=1.0,
            )
        )
        prev = close
    return rows


def best_of(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    spec = build_plugins(scan_plugins()).strategy("sma_cross")
    params, options = {"fast": 10, "slow": 30}, Options()
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 50_000, 100_000)
    backtest(candles_of(series(100)), spec, params, options, run_id="warm", started_at=0)  # numba compiles once
    print(f"{'candles':>8} {'step ms':>9} {'backtest ms':>12} {'ratio':>6}")
    for n in sizes:
        rows = series(n + 5)
        book = PaperBook(spec, params, options, symbol="B", timeframe="1m", max_bars=n + 5)
        book.step(rows[:n])
        extra = iter(rows[n:])
        step = best_of(lambda b=book, e=extra: b.step([next(e)]), 5)
        candles = candles_of(rows[:n])
        plain = best_of(lambda c=candles: backtest(c, spec, params, options, run_id="b", started_at=0), 5)
        print(f"{n:>8} {step * 1000:>9.2f} {plain * 1000:>12.2f} {step / plain:>6.2f}")


if __name__ == "__main__":
    main()
