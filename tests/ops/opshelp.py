"""Helpers shared by the operations tests (imported as a plain module: tests/ops is on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OPS", "REPO", "clean_env"]

REPO = Path(__file__).resolve().parents[2]
OPS = REPO / "ops"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment minus Spark's own settings, with evidence, logs and the state dir (the pid file) inside
    ``home``, so servers started by parallel tests never see each other's pid file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "BACKTEST_", "ADMIN_"))}
    env.update(
        SPARK_EVIDENCE_DIR=str(home / "evidence"),
        SPARK_LOG_DIR=str(home / "logs"),
        SPARK_STATE_DIR=str(home / ".spark"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# -- PromQL helpers for the dashboard checks -------------------------------------------------------------------

GRAFANA_MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$__range_s": "3600",
    "$__interval_ms": "15000",
    "$__range_ms": "3600000",
    "$__scrape_interval": "15s",
}
_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def substitute_macros(expr: str) -> str:
    """Grafana's $__ macros replaced by plain durations, so the query is valid PromQL."""
    for macro in sorted(GRAFANA_MACROS, key=len, reverse=True):
        expr = expr.replace(macro, GRAFANA_MACROS[macro])
        expr = expr.replace("${" + macro[1:] + "}", GRAFANA_MACROS[macro])
    return expr


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, grouping labels, functions dropped)."""
    import re

    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range / subquery windows
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group(0).lower() in _KEYWORDS:
            continue
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue  # the "e" of 1e3 or a duration suffix
        names.add(m.group(0))
    return names


# -- a real `spark serve` process --------------------------------------------------------------------------------

ADMIN_TOKEN = "ops-test-token-0123456789"


class SparkServer:
    """``spark serve --port 0`` as a child process in ``home`` (mock runs; evidence, logs and the state dir under
    ``home``). Once constructed, the server answers and its pid file exists."""

    def __init__(self, home: Path, *args: str, log_path: Path | None = None, **env: str) -> None:
        """``args`` go to `spark serve`; with ``log_path`` its stderr (the log lines) goes to that file."""
        import subprocess
        import sys

        self.home = home
        self.env = clean_env(
            home, **{"BACKTEST_IMPL": "mock", "ADMIN_TOKEN": ADMIN_TOKEN, "SPARK_DATA_DIR": str(home / "data"), **env}
        )
        self._log = None if log_path is None else log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spark.cli", "serve", "--port", "0", *args],
            cwd=home,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if self._log is None else self._log,
            text=True,
        )
        self.url = self._read_url()

    def _read_url(self, timeout: float = 60) -> str:
        """The URL of the "Spark serving on URL" line (printed once the pid file is written; Hypercorn's own
        "Running on" line comes earlier). Reads the pipe's bytes directly: a buffered readline could hold the
        line back while select waits for more."""
        import re
        import selectors
        import time

        deadline = time.monotonic() + timeout
        seen = b""
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=0.5):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
                m = re.search(rb"serving on (https?://\S+)", seen)
                if m:
                    self._drain(fd)
                    return m.group(1).decode().rstrip("/")
        self.stop()
        raise RuntimeError("spark serve printed no URL:\n" + seen.decode(errors="replace"))

    def _drain(self, fd: int) -> None:
        """Keep reading the output (its log lines, one per request, when stderr is not a file) so that a full pipe
        never blocks the server; what it says is kept in ``output``."""
        import threading

        self.output = bytearray()

        def read() -> None:
            try:
                while chunk := os.read(fd, 65536):
                    self.output += chunk
            except OSError:
                return  # closed by stop()

        threading.Thread(target=read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
