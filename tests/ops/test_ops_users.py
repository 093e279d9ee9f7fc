"""`spark users` against a real server: a token printed once works after `spark reload`, a disabled one stops,
the role decides what it may do."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
from conftest import Runner
from opshelp import SparkServer


def test_users_are_added_listed_disabled_and_picked_up_by_reload(home: Path, spark: Runner) -> None:
    added = spark("users", "add", "olga", "--role", "operator")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert len(token) > 30 and "shown once" in added.stderr
    assert stat.S_IMODE((home / ".spark" / "users.toml").stat().st_mode) == 0o600
    assert "olga" in spark("users", "list").stdout and token not in (home / ".spark" / "users.toml").read_text()
    server = SparkServer(home)
    try:
        headers = {"x-admin-token": token}
        assert httpx.post(f"{server.url}/api/backtest/start", json={}, headers=headers).status_code == 201
        viewer = spark("users", "add", "vera", "--role", "viewer").stdout.strip()
        assert httpx.get(f"{server.url}/api/whoami", headers={"x-admin-token": viewer}).status_code == 401
        assert spark("reload").returncode == 0  # the server re-reads the users file
        assert httpx.get(f"{server.url}/api/whoami", headers={"x-admin-token": viewer}).json() == {
            "user": "vera",
            "role": "viewer",
        }
        assert (
            httpx.post(f"{server.url}/api/backtest/start", json={}, headers={"x-admin-token": viewer}).status_code
            == 403
        )
        assert spark("users", "disable", "olga").returncode == 0 and spark("reload").returncode == 0
        assert httpx.post(f"{server.url}/api/backtest/start", json={}, headers=headers).status_code == 401
    finally:
        server.stop()


def test_bad_user_commands_are_one_line_and_exit_2(spark: Runner) -> None:
    for args in (
        ["users", "add", "admin", "--role", "admin"],
        ["users", "add", "x y", "--role", "viewer"],
        ["users", "rotate", "nobody"],
        ["users", "add", "pat", "--role", "boss"],
    ):
        out = spark(*args)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, (args, out.stderr)
