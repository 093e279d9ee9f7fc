"""Fixtures of the sweep service tests: a real system (evidence, logs, users in tmp folders) with an admin token,
an operator and a viewer from a users file, and the Quart test client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from spark.api import create_app
from spark.config import Settings, load_settings
from spark.service.users import add_user
from spark.system import open_system

TOKEN = "sweep-s3cret"
SMALL = {"name": "synthetic", "args": {"bars": 1500, "seed": 7, "timeframe": "1h"}}  # inline: under 64 sets
BIG = {"name": "synthetic", "args": {"bars": 100_000, "seed": 7, "timeframe": "1m"}}
# 38,199 sets over 100,000 bars: ~15 s of kernel time on two workers, still running when a test cuts it off
LONG = {"grid": {"fast": "2:120:1", "slow": "130:450:1"}, "feed": BIG}


def admin() -> dict[str, str]:
    return {"x-admin-token": TOKEN}


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "evidence_dir": tmp_path / "evidence",
            "log_dir": tmp_path / "logs",
            "data_dir": tmp_path / "data",
            "state_dir": tmp_path / "state",
            "admin_token": TOKEN,
            "impl": "mock",
            "max_concurrent": 1,
            "sweep_workers": 2,
        }
        values.update(overrides)
        return load_settings(env={}, toml_path=None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def tokens(settings: Settings) -> dict[str, str]:
    """``olga`` (operator) and ``vera`` (viewer) in the users file the system reads."""
    path = settings.state_dir / "users.toml"
    return {name: add_user(path, name, role, 0) for name, role in (("olga", "operator"), ("vera", "viewer"))}


@pytest.fixture
async def system(settings: Settings, tokens: dict[str, str]) -> AsyncIterator[Any]:
    async with open_system(settings) as running:
        yield running


@pytest.fixture
def client(system: Any) -> Any:
    return create_app(system).test_client()
