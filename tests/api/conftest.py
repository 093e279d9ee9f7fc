"""Fixtures for the HTTP layer: a real system (actors, evidence and logs in tmp folders) and the Quart test client.

Runs use ``BACKTEST_IMPL=mock`` with a long delay unless a test says otherwise, so a run stays cancellable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from apikit import TOKEN

from spark.api import create_app
from spark.config import Settings, load_settings
from spark.system import open_system


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "evidence_dir": tmp_path / "evidence",
            "log_dir": tmp_path / "logs",
            "data_dir": tmp_path / "data",
            "admin_token": TOKEN,
            "impl": "mock",
            "mock_delay_s": 30.0,
            "max_concurrent": 2,
        }
        values.update(overrides)
        return load_settings(env={}, toml_path=None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[Any]:
    async with open_system(settings) as running:
        yield running


@pytest.fixture
def app(system: Any) -> Any:
    return create_app(system)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
