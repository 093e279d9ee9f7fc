"""Fixtures for the operations tests: the `spark` CLI as a real process in a temporary home, and promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from opshelp import clean_env

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Spark working folder: evidence/ and logs/ live here, and the CLI runs with it as cwd."""
    return tmp_path


@pytest.fixture
def spark(home: Path) -> Runner:
    """Run ``python -m spark.cli ARGS`` in ``home``; returns the completed process (text mode)."""

    def run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "spark.cli", *args],
            cwd=home,
            env=clean_env(home, **env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool from Debian's `prometheus` package: skipped locally when missing, a failure under CI=true."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


@pytest.fixture
def spark_here(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    """`spark.cli.main(ARGS)` in this process, with the same environment and folder as `spark` (faster)."""
    from spark.cli import main

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        wanted = clean_env(home, **env)
        for key in list(os.environ):
            monkeypatch.delenv(key)
        for key, value in wanted.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(home)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["spark", *args], code, out, err)

    return run
