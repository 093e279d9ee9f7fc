"""A real `spark serve` whose scheduler dies (third-party code in the process hands it a value it cannot take)
does not stay alive but deaf: the request gets an answer, the failure is logged, and the process exits non-zero
within the shutdown grace, so a supervisor restarts it (defect 8)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from apikit import ServerProcess

sys.path.insert(0, str(Path(__file__).parent.parent / "plugin"))
from plugkit import install_plugin

BREAKER = """
from quart import Blueprint

import spark
from spark.plugin.services import Caller


@spark.hookimpl
def register_routes(register, services):
    bp = Blueprint("breaker", __name__)

    @bp.post("/api/breaker")
    async def breaker():
        await services.start(object(), Caller(ip="plugin"), None)  # not a RunRequest: a bug in the plugin
        return {"ok": True}

    register(bp)
"""


async def test_a_dead_scheduler_takes_the_server_down_with_a_log_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    site = install_plugin(tmp_path, "breaker-plugin", {"breaker.py": BREAKER}, {"breaker": "breaker"})
    env = {
        "PYTHONPATH": f"{site}:{':'.join(sys.path)}",
        "ADMIN_TOKEN": "tok",
        "BACKTEST_IMPL": "mock",
        "SPARK_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
        "SPARK_STATE_DIR": str(tmp_path / "state"),
    }
    server = ServerProcess(tmp_path, env)
    url = await server.start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/health")).status_code == 200
            response = await client.post("/api/breaker")
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "unavailable"
        code = await server.wait(seconds=20)  # the grace is 10 s; no SIGTERM is sent
    finally:
        server.kill()
    assert code != 0
    log = server.stderr_path.read_text()
    assert "actor scheduler died" in log, log[-2000:]
    assert not (tmp_path / "state" / "spark.pid").exists()  # the pid file goes with it
