"""The Ray executor on a real local cluster (one per module, 2 CPUs) gives the local pool's table bit for bit, for
a fast-path strategy, a plugin without one, and TPE; a cancel cancels its tasks within a second."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import spark
from spark.research.executors import RayExecutor
from spark.research.jobs import Cancelled

from .conftest import same_table
from .momentum_plugin import MOMENTUM

GRID = {"fast": "2:30:4", "slow": "20:80:10"}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    import ray  # the test extra installs it: a missing Ray fails here, it is not skipped

    # Ray's workers import the momentum plugin module as pytest does: from tests/ on their path
    path = os.pathsep.join(p for p in (str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


def test_ray_equals_the_local_pool(ray_cluster: Any, goog: Any, eurusd: Any, plugins: Any) -> None:
    local = spark.run_sweep(goog, "sma_cross", grid=GRID, plugins=plugins, executor="local", workers=2, fee=0.001)
    on_ray = spark.run_sweep(goog, "sma_cross", grid=GRID, plugins=plugins, executor="ray", chunk_size=3, fee=0.001)
    assert same_table(on_ray.table, local.table)
    local = spark.run_sweep(eurusd, MOMENTUM, grid={"lookback": "2:40:2"}, executor="local", workers=2)
    on_ray = spark.run_sweep(eurusd, MOMENTUM, grid={"lookback": "2:40:2"}, executor=RayExecutor(), chunk_size=4)
    assert same_table(on_ray.table, local.table)


def test_tpe_on_ray_equals_tpe_in_process(ray_cluster: Any, goog: Any, plugins: Any) -> None:
    space = {"fast": "2:40", "slow": "10:150"}
    kwargs: dict[str, Any] = {"space": space, "method": "tpe", "trials": 24, "seed": 3, "batch_size": 8}
    here = spark.run_sweep(goog, "sma_cross", plugins=plugins, executor="inline", **kwargs)
    there = spark.run_sweep(goog, "sma_cross", plugins=plugins, executor="ray", **kwargs)
    assert same_table(there.table, here.table)


def test_cancel_cancels_ray_tasks(ray_cluster: Any, eurusd: Any) -> None:
    cancel = threading.Event()
    started = threading.Event()
    threading.Thread(target=lambda: (started.wait(60), cancel.set()), daemon=True).start()
    with pytest.raises(Cancelled):
        try:
            spark.run_sweep(
                eurusd,
                MOMENTUM,
                grid={"lookback": "1:1000:1"},
                executor="ray",
                chunk_size=2,
                cancel=cancel,
                progress=lambda *a: started.set(),
            )
        finally:
            stopped = time.monotonic()
    assert time.monotonic() - stopped < 1.0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the cluster is free again: cancelled tasks do not keep running
        if ray_cluster.available_resources().get("CPU", 0) >= 2:
            break
        time.sleep(0.1)
    assert ray_cluster.available_resources().get("CPU", 0) >= 2
