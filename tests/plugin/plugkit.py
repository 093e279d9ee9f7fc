"""Throwaway third-party plugins, installed for real: a wheel built here (no build backend, no network) and
``pip install --target`` into a folder that a test puts on ``sys.path`` or a subprocess's ``PYTHONPATH``, never
into the shared environment."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

__all__ = ["install_plugin", "spark_cli"]


def install_plugin(
    root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str], target: Path | None = None
) -> Path:
    """Install distribution ``dist`` (``modules``: file name -> source; ``entry_points``: group ``spark`` name ->
    value) with pip into ``target`` (default: a fresh folder under ``root``); returns the folder."""
    stem = dist.replace("-", "_")
    info = f"{stem}-0.1.dist-info"
    files = dict(modules)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n"
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: plugkit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = "[spark]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    record = [f"{name},sha256={_digest(text.encode())},{len(text.encode())}" for name, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = root / f"{stem}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    target = root / f"site-{stem}" if target is None else target
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return target


def spark_cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``spark ARGS`` in a subprocess with ``site`` first on its path (then whatever the test run has)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "spark.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
