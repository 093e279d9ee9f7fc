"""The local process pool gives the same table as running in-process, whatever the worker count and chunk size;
progress is reported; a cancel stops the pool's workers within a second."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

import spark
from spark.research.executors import LocalExecutor
from spark.research.jobs import Cancelled

from .conftest import same_table
from .momentum_plugin import MOMENTUM

GRID = {"fast": "2:30:4", "slow": "20:80:10"}


def test_local_pool_equals_inline_for_any_workers_and_chunks(goog: Any, plugins: Any) -> None:
    want = spark.run_sweep(goog, "sma_cross", grid=GRID, plugins=plugins, executor="inline", fee=0.001)
    for workers, chunk in ((1, 7), (2, 1), (2, 5), (2, 1000)):
        got = spark.run_sweep(
            goog,
            "sma_cross",
            grid=GRID,
            plugins=plugins,
            executor="local",
            workers=workers,
            chunk_size=chunk,
            fee=0.001,
        )
        assert same_table(got.table, want.table), (workers, chunk)
    assert not multiprocessing.active_children()  # the sweep's own pool is stopped when it ends


def test_a_plugin_without_fast_path_runs_in_the_pool(eurusd: Any) -> None:
    want = spark.run_sweep(eurusd, MOMENTUM, grid={"lookback": "2:40:2"}, executor="inline")
    got = spark.run_sweep(eurusd, MOMENTUM, grid={"lookback": "2:40:2"}, executor="local", workers=2, chunk_size=3)
    assert same_table(got.table, want.table)


def test_progress_counts_every_set(goog: Any, plugins: Any) -> None:
    seen: list[tuple[int, int, Any]] = []
    result = spark.run_sweep(
        goog,
        "sma_cross",
        grid=GRID,
        plugins=plugins,
        executor="local",
        workers=2,
        chunk_size=4,
        progress=lambda done, total, best: seen.append((done, total, best)),
    )
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen) and seen[-1][:2] == (len(result), len(result))
    assert seen[-1][2]["index"] == result.best["index"] and seen[-1][2]["params"] == result.best["params"]


def test_cancel_stops_the_workers_within_a_second(eurusd: Any) -> None:
    cancel = threading.Event()
    pool = LocalExecutor(workers=2)
    first = threading.Event()

    def progress(done: int, total: int, best: Any) -> None:
        first.set()

    def cancel_soon() -> None:
        first.wait(60)
        cancel.set()

    threading.Thread(target=cancel_soon, daemon=True).start()
    with pytest.raises(Cancelled):
        try:
            spark.run_sweep(
                eurusd,
                MOMENTUM,
                grid={"lookback": "1:1000:1"},
                executor=pool,
                chunk_size=2,
                progress=progress,
                cancel=cancel,
            )
        finally:
            stopped = time.monotonic()
    assert cancel.is_set()
    waited = time.monotonic() - stopped
    assert waited < 1.0
    deadline = time.monotonic() + 1.0
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()
