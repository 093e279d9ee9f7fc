"""Fixtures of the live-session tests: a real system whose replay exchange plays a sine-wave file of BTCTRY 1m
candles (evidence, logs and data in tmp folders), the Quart test client, and an active parameter set on disk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from spark.api import create_app
from spark.config import Settings, load_settings
from spark.service.changes import ParamSet, canonical_hash
from spark.system import open_system

from .livekit import wave, write_csv

TOKEN = "live-s3cret"
APPROVED = {"fast": 5, "slow": 12}


def admin() -> dict[str, str]:
    return {"x-admin-token": TOKEN}


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted(settings.audit_dir.glob("backtest_*.log")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines


def activate(settings: Settings, params: dict[str, Any], *, strategy: str = "sma_cross") -> None:
    """An active parameter set on disk, as the registry writes it once a change request is approved."""
    folder = settings.evidence_dir / "changes"
    folder.mkdir(parents=True, exist_ok=True)
    full = {"fast": 10, "slow": 30, **params}
    active = ParamSet(
        strategy=strategy, pair="BTCTRY", timeframe="1m", version=3, params=full, params_sha=canonical_hash(full),
        change_id="cr-1700000000000-00000001", activated_at=1_700_000_000_000,
    )  # fmt: skip
    (folder / "params.json").write_text(json.dumps({"sets": [active.to_wire()]}))


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
            "replay_speed": 600.0,  # a 1m candle every 100 ms
            "replay_lead_bars": 100,
        }
        values.update(overrides)
        settings = load_settings(env={}, toml_path=None, **values)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not (settings.data_dir / "BTCTRY-1m.csv").exists():
            write_csv(settings.data_dir / "BTCTRY-1m.csv", wave(400))
        return settings

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    settings = make_settings()
    activate(settings, APPROVED)
    return settings


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[Any]:
    async with open_system(settings) as running:
        yield running


@pytest.fixture
def client(system: Any) -> Any:
    return create_app(system).test_client()
