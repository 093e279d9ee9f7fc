"""Shared fixtures for the research tests: real data from tests/data and the built-in strategies."""

from __future__ import annotations

import math
from typing import Any

import pytest
from engine.helpers import load_csv

from spark.plugin.manager import build_plugins


@pytest.fixture(scope="session")
def plugins() -> Any:
    return build_plugins()


@pytest.fixture(scope="session")
def goog() -> Any:
    return load_csv("GOOG.csv")


@pytest.fixture(scope="session")
def eurusd() -> Any:
    return load_csv("EURUSD.csv", timeframe="1h")


def same_stats(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The names whose values differ beyond 1e-9 (relative, or absolute near zero)."""
    bad = []
    for key, w in want.items():
        g = got.get(key)
        if isinstance(w, float) and isinstance(g, float):
            if not math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9):
                bad.append(f"{key}: {g} != {w}")
        elif g != w or type(g) is not type(w):
            bad.append(f"{key}: {g!r} != {w!r}")
    return bad


def same_table(a: Any, b: Any) -> bool:
    """Bit for bit: the same dtype and the same bytes (NaN included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
