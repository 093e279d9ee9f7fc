"""SweepResult: rows by index, the best and top rows by the objective under constraints, the table, JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

import spark

GRID = {"fast": "2:20:3", "slow": "10:60:10"}


def test_best_and_top_follow_the_objective(goog: Any, plugins: Any) -> None:
    result = spark.run_sweep(goog, "sma_cross", grid=GRID, plugins=plugins, fee=0.001)
    sharpe = result.table["sharpe"]
    best = result.best
    assert best is not None and best["stats"]["sharpe"] == np.nanmax(sharpe)
    top = result.top(5)
    values = [r["stats"]["sharpe"] for r in top]
    assert values == sorted(values, reverse=True) and top[0] == best
    assert [r["index"] for r in result.rows] == list(range(len(result)))


def test_minimised_objective_and_constraints(goog: Any, plugins: Any) -> None:
    result = spark.run_sweep(
        goog, "sma_cross", grid=GRID, plugins=plugins, objective="max_drawdown_pct", constraints={"min_trades": 40}
    )
    assert not result.objective.maximise  # drawdown: lower is better
    ok = result.table["total_trades"] >= 40
    assert 0 < ok.sum() < len(result)
    best = result.best
    assert best is not None and best["stats"]["total_trades"] >= 40
    assert best["stats"]["max_drawdown_pct"] == result.table["max_drawdown_pct"][ok].min()
    impossible = spark.run_sweep(goog, "sma_cross", grid=GRID, plugins=plugins, constraints={"min_trades": 10**6})
    assert impossible.best is None
    explicit = spark.run_sweep(goog, "sma_cross", grid=GRID, plugins=plugins, objective="min:return_pct")
    assert explicit.best["stats"]["return_pct"] == explicit.table["return_pct"].min()


def test_json_and_table(goog: Any, plugins: Any) -> None:
    result = spark.run_sweep(goog, "sma_cross", grid=GRID, plugins=plugins)
    doc = json.loads(json.dumps(result.to_json(top=3)))
    assert doc["total"] == len(result) and len(doc["top"]) == 3 and doc["skipped"] == result.skipped
    assert set(doc["best"]["stats"]) >= {"sharpe", "totalTrades", "maxDrawdownPct"}
    assert doc["objective"] == {"stat": "sharpe", "direction": "max"}
    names = result.table.dtype.names
    assert names[:3] == ("index", "fast", "slow") and "sharpe" in names
    assert result.table["fast"].dtype == np.int64 and result.table["total_trades"].dtype == np.int64
    # undefined stats are NaN in the table and None in rows
    never = spark.run_sweep(goog, "sma_cross", grid={"fast": [1], "slow": [2000]}, plugins=plugins)
    assert math.isnan(never.table["win_rate"][0]) and never.rows[0]["stats"]["win_rate"] is None


def test_random_is_seeded(goog: Any, plugins: Any) -> None:
    space = {"fast": "2:30", "slow": [10, 120]}
    one = spark.run_sweep(goog, "sma_cross", space=space, method="random", trials=40, seed=7, plugins=plugins)
    two = spark.run_sweep(goog, "sma_cross", space=space, method="random", trials=40, seed=7, plugins=plugins)
    other = spark.run_sweep(goog, "sma_cross", space=space, method="random", trials=40, seed=8, plugins=plugins)
    assert one.skipped + len(one) == 40
    assert one.table.tobytes() == two.table.tobytes()
    assert not np.array_equal(one.table[["fast", "slow"]], other.table[["fast", "slow"]][: len(one)]) or len(
        one
    ) != len(other)
    assert all(2 <= r["params"]["fast"] <= 30 and 10 <= r["params"]["slow"] <= 120 for r in one.rows)
