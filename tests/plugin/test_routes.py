"""``register_routes`` as `spark.api.create_app` calls it: through pluggy, each plugin in load order, so an
implementation may take a subset of the arguments, and a plugin that fails is named."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from quart import Blueprint, Response, jsonify

from spark.api import create_app
from spark.config import Settings
from spark.errors import PluginError
from spark.plugin.hookspecs import hookimpl
from spark.system import System, open_system


def hello_blueprint(name: str, greeting: str) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.get(f"/{name}")
    async def hello() -> Response:
        return jsonify({"hello": greeting})

    return bp


class OnlyRegister:
    """Takes ``register`` and not ``services``, as pluggy allows."""

    @hookimpl
    def register_routes(self, register: Callable[[Blueprint], None]) -> None:
        register(hello_blueprint("only_register", "world"))


class ServicesFirst:
    """Names both arguments in the other order: pluggy passes them by name."""

    @hookimpl
    def register_routes(self, services: Any, register: Callable[[Blueprint], None]) -> None:
        register(hello_blueprint("services_first", services.settings.impl))


class Failing:
    @hookimpl
    def register_routes(self, register: Callable[[Blueprint], None], services: Any) -> None:
        raise RuntimeError("no routes today")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(impl="mock", evidence_dir=tmp_path / "evidence", log_dir=tmp_path / "logs", data_dir=tmp_path)


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    extra = [(OnlyRegister(), "onlyregister"), (ServicesFirst(), "servicesfirst")]
    async with open_system(settings, extra_plugins=extra) as running:
        yield running


async def test_a_routes_hook_taking_a_subset_of_the_arguments_registers(system: System) -> None:
    client = create_app(system).test_client()
    response = await client.get("/only_register")
    assert response.status_code == 200 and await response.get_json() == {"hello": "world"}
    response = await client.get("/services_first")
    assert response.status_code == 200 and await response.get_json() == {"hello": "mock"}
    assert (await client.get("/api/strategies")).status_code == 200  # the built-in routes are all there


async def test_a_routes_hook_that_raises_is_named(settings: Settings) -> None:
    async with open_system(settings, extra_plugins=[(Failing(), "failing")]) as running:
        with pytest.raises(PluginError, match="'failing'.*no routes today") as err:
            create_app(running)
        assert err.value.plugin == "failing"
