"""Benchmark: parameter sweeps on the local process pool and on Ray, beside looping `run_backtest`, in one run.

1. SMA cross, 10,000 parameter sets (fast 1..100 x slow 101..299 step 2) over 100,000 synthetic bars, the local
   executor with every core: wall time and bar-sets/s; targets < 5 s and >= 5x a loop of `run_backtest` over the
   same sets (a sample of the loop is timed, then extrapolated). Timed twice: the process's first sweep, which
   also starts the pool's fork server (a fresh interpreter importing Spark and loading its compiled kernels, once
   per process), and a second on a new pool from the running fork server: warm, as the loop is timed warm (its
   imports and kernels loaded before the clock starts). The ratio is warm against warm; both walls are printed.
2. The tests' momentum plugin (no fast path: its function runs per set): the sweep against the same loop (>= 2x).
3. Ray on this machine: the same SMA sweep as Ray tasks, its overhead over the local pool as a ratio (cluster
   start-up shown apart).
4. Peak memory of the 10,000 x 100,000 sweep: the resident set of this process and every worker, sampled during a
   second run of the same sweep (sampling slows what it watches, so the timed run is not sampled) (< 1 GB).

A benchmark, never a test: `python bench/sweep.py [--bars 100000] [--sets 10000] [--no-ray]`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from engine import synthetic  # noqa: E402  (bench/engine.py: the same seeded random walk)

FEE = 0.001


def tree_rss_mb(pid: int) -> float:
    """Proportional resident memory (PSS: shared pages split among their users, so pages the workers share
    with the fork server count once) of ``pid`` and all its descendants, from /proc, in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next(int(x.split()[1]) for x in fh if x.startswith("Pss:")) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(x) for x in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / 2**20


class PeakSampler:
    """Samples this process tree's resident memory every 20 ms; ``peak`` in MB."""

    def __init__(self) -> None:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_mb(os.getpid()))


def loop_seconds(candles, strategy, sets, sample: int, plugins) -> float:
    """Seconds a loop of run_backtest would take over ``sets``, from a sample spread across them."""
    import spark

    step = max(1, len(sets) // sample)
    chosen = sets[::step][:sample]
    spark.run_backtest(candles, strategy, chosen[0], fee=FEE, plugins=plugins)  # warm
    t0 = time.perf_counter()
    for params in chosen:
        spark.run_backtest(candles, strategy, params, fee=FEE, plugins=plugins)
    return (time.perf_counter() - t0) / len(chosen) * len(sets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--sets", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sample", type=int, default=40, help="run_backtest calls timed to extrapolate the loop")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()

    from research.momentum_plugin import MOMENTUM

    import spark
    from spark.plugin.manager import build_plugins
    from spark.research.executors import LocalExecutor

    plugins = build_plugins()
    candles = synthetic(args.bars)
    side = max(1, int(math.sqrt(args.sets)))
    grid = {"fast": f"1:{side}:1", "slow": f"{side + 1}:{side + 2 * side - 1}:2"}
    n_bars = len(candles)
    print(f"Sweeps on {n_bars:,} synthetic bars, fee {FEE}, {os.cpu_count()} CPUs, workers {args.workers}")

    spark.run_sweep(candles, "sma_cross", grid={"fast": [5], "slow": [50]}, plugins=plugins, executor="inline")
    print(f"   load average before: {os.getloadavg()[0]:.1f} (on a busy machine every wall figure below is inflated)")
    # CPU time of one core for a sample of sets, in this process: what a worker spends per set, whatever the load
    from spark.engine.options import Options
    from spark.engine.sweep import Indicators, evaluate_sets
    from spark.research.space import expand_grid

    spec = plugins.strategy("sma_cross")
    every, _ = expand_grid(spec, grid)
    sample = every[:: max(1, len(every) // 200)]
    ind = Indicators(candles)
    cpu0 = time.thread_time()
    evaluate_sets(candles, spec, sample, Options(fee=FEE), indicators=ind)
    per_set = (time.thread_time() - cpu0) / len(sample)
    print(
        f"   CPU per set (one core, sample of {len(sample)}): {per_set * 1e3:.3f} ms; {len(every):,} sets on "
        f"{args.workers} idle cores would take ~{per_set * len(every) / args.workers:.2f} s "
        f"({n_bars / per_set / 1e6 * args.workers:.0f}M bar-sets/s)"
    )
    # Timed on its own: reading /proc/<pid>/smaps_rollup every 20 ms takes the workers' memory-map locks and
    # slowed this very sweep 2-4x; the peak memory comes from a second, identical sweep watched by the sampler.
    pool = LocalExecutor(workers=args.workers)
    t0 = time.perf_counter()
    first = spark.run_sweep(candles, "sma_cross", grid=grid, plugins=plugins, executor=pool, fee=FEE)
    cold = time.perf_counter() - t0
    pool.close()
    pool = LocalExecutor(workers=args.workers)
    t0 = time.perf_counter()
    result = spark.run_sweep(candles, "sma_cross", grid=grid, plugins=plugins, executor=pool, fee=FEE)
    wall = time.perf_counter() - t0
    pool.close()
    assert first.table.tobytes() == result.table.tobytes()
    pool = LocalExecutor(workers=args.workers)
    with PeakSampler() as mem:
        again = spark.run_sweep(candles, "sma_cross", grid=grid, plugins=plugins, executor=pool, fee=FEE)
    pool.close()
    assert again.table.tobytes() == result.table.tobytes()
    sets = [r["params"] for r in result.rows]
    rate = len(result) * n_bars / wall
    print(
        f"1. SMA cross {len(result):,} sets x {n_bars:,} bars, local pool: {wall:.2f} s wall "
        f"(target < 5 s), {rate / 1e6:.0f}M bar-sets/s; the process's first sweep, starting the fork server: "
        f"{cold:.2f} s"
    )
    loop = loop_seconds(candles, "sma_cross", sets, args.sample, plugins)
    print(
        f"   loop of run_backtest over the same sets (extrapolated from {args.sample}): {loop:.1f} s; "
        f"sweep {loop / wall:.1f}x faster (target >= 5x)"
    )
    best = result.best
    print(
        f"   best {best['params']} sharpe {best['stats']['sharpe']:.4f}; peak memory of the process tree "
        f"{mem.peak:.0f} MB (target < 1 GB)"
    )

    lookbacks = {"lookback": f"1:{min(400, args.sets // 25)}:1"}
    pool = LocalExecutor(workers=args.workers)
    t0 = time.perf_counter()
    mom = spark.run_sweep(candles, MOMENTUM, grid=lookbacks, executor=pool, fee=FEE)
    mom_wall = time.perf_counter() - t0
    pool.close()
    mom_loop = loop_seconds(candles, MOMENTUM, [r["params"] for r in mom.rows], args.sample, plugins)
    print(
        f"2. momentum plugin (no fast path), {len(mom)} sets: sweep {mom_wall:.2f} s, loop {mom_loop:.2f} s: "
        f"{mom_loop / mom_wall:.1f}x faster (target >= 2x)"
    )

    if args.no_ray:
        return
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        on_ray = spark.run_sweep(candles, "sma_cross", grid=grid, plugins=plugins, executor="ray", fee=FEE)
        ray_wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    same = on_ray.table.tobytes() == result.table.tobytes()
    print(
        f"3. Ray (local cluster, {args.workers} CPUs): start-up {start:.1f} s, sweep {ray_wall:.2f} s; overhead over "
        f"the local pool {ray_wall / wall:.2f}x ({(start + ray_wall) / wall:.2f}x with start-up); "
        f"identical table: {same}"
    )


if __name__ == "__main__":
    main()
