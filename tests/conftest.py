"""Shared fixtures: real files in temporary folders, fresh settings and plugins per test."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """The test suite's own copies of the real price series (a plain clone has no ../shared)."""
    return DATA
