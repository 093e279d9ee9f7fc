"""Dashboard figures, measured in headless Chromium against a real `spark serve` (engine, temporary folders).

1. First load: bytes of HTML + JS + CSS the browser fetches for /backtest (target < 300 KB).
2. Report view of a 1,000,000-bar run: time from navigation start to the drawn equity chart (the page's
   `spark-chart-drawn` performance mark), median of several cold loads (target < 1 s). The same view of a
   10,000-bar run is the reference measured in the same session: the ratio shows what the run's length costs.

Usage: python bench/dashboard.py [--bars 1000000] [--repeat 5]. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

TOKEN = "bench-token"
FIRST_LOAD_TARGET = 300 * 1024
REPORT_TARGET_MS = 1000.0
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def serve(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "ADMIN_", "BACKTEST_"))}
    env.update(
        {
            "SPARK_EVIDENCE_DIR": str(workdir / "evidence"),
            "SPARK_LOG_DIR": str(workdir / "logs"),
            "ADMIN_TOKEN": TOKEN,
            "ADMIN_ENABLED": "true",
            "BACKTEST_IMPL": "engine",
            "SPARK_RATE_LIMIT_PER_MINUTE": "1000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    spark = Path(sys.executable).with_name("spark")
    proc = subprocess.Popen(
        [str(spark if spark.exists() else "spark"), "serve", "--port", "0"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"http://[0-9.]+:[0-9]+", line)
            if match and not ready.is_set():
                found.append(match.group(0))
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        sys.exit("spark serve did not start")
    return proc, found[0]


def run(url: str, bars: int) -> tuple[str, float]:
    """Start a sma_cross run on `bars` synthetic bars and wait for it; returns (id, seconds it took)."""
    body = {"strategy": "sma_cross", "feed": {"name": "synthetic", "args": {"bars": bars}}}
    with httpx.Client(base_url=url, headers={"x-admin-token": TOKEN}, timeout=30) as client:
        answer = client.post("/api/backtest/start", json=body)
        answer.raise_for_status()
        run_id = answer.json()["id"]
        t0 = time.perf_counter()
        while True:
            status = client.get(f"/api/backtest/{run_id}").json()["status"]
            if status == "done":
                return run_id, time.perf_counter() - t0
            if status == "failed":
                sys.exit(f"run {run_id} failed")
            time.sleep(0.2)


def first_load_bytes(browser, url: str) -> tuple[int, dict[str, int]]:
    context = browser.new_context()
    page = context.new_page()
    sizes: dict[str, int] = {}

    def on_response(response) -> None:
        if response.request.resource_type in {"document", "script", "stylesheet"}:
            sizes[response.url.rsplit("/", 1)[-1] or "/"] = len(response.body())

    page.on("response", on_response)
    page.goto(f"{url}/backtest", wait_until="networkidle")
    context.close()
    return sum(sizes.values()), sizes


def report_ms(browser, url: str, run_id: str, repeat: int) -> tuple[list[float], list[float]]:
    """Cold loads (a fresh context each: no cache) of the report view: navigation start to the drawn chart, and
    how much of it the browser spent waiting for the server's equity answer (request sent to last byte)."""
    times, waits = [], []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{url}/backtest#/runs/{run_id}")
        page.wait_for_selector("canvas.equity[data-drawn=true]", timeout=60_000)
        drawn, wait = page.evaluate("""() => {
            const eq = performance.getEntriesByType('resource').find((e) => e.name.includes('/equity?'));
            return [performance.getEntriesByName('spark-chart-drawn')[0].startTime, eq.responseEnd - eq.startTime];
        }""")
        times.append(drawn)
        waits.append(wait)
        page.wait_for_selector("dl.settings", timeout=60_000)  # the detail too: no work left for the next load
        context.close()
    return times, waits


def equity_route_ms(url: str, run_id: str, repeat: int) -> float:
    with httpx.Client(base_url=url, timeout=60) as client:
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            client.get(f"/api/backtest/{run_id}/equity", params={"points": 2560}).raise_for_status()
            samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--reference-bars", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = serve(Path(tmp))
        try:
            ref_id, ref_run_s = run(url, args.reference_bars)
            big_id, big_run_s = run(url, args.bars)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=ARGS)
                total, sizes = first_load_bytes(browser, url)
                report_ms(browser, url, ref_id, 1)  # warm the server's caches and the browser process
                ref, ref_wait = report_ms(browser, url, ref_id, args.repeat)
                big, big_wait = report_ms(browser, url, big_id, args.repeat)
                browser.close()
            ref_eq = equity_route_ms(url, ref_id, args.repeat)
            big_eq = equity_route_ms(url, big_id, args.repeat)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    ref_med, big_med = statistics.median(ref), statistics.median(big)
    print(
        f"first load: {total / 1024:.1f} KB of HTML+JS+CSS in {len(sizes)} files "
        f"(target < {FIRST_LOAD_TARGET // 1024} KB: {total / FIRST_LOAD_TARGET:.2f} of target)"
    )
    print(f"runs: {args.reference_bars:,} bars took {ref_run_s:.1f} s, {args.bars:,} bars took {big_run_s:.1f} s")
    print(
        f"equity route (2560 points), median: {ref_eq:.1f} ms for {args.reference_bars:,} bars, "
        f"{big_eq:.1f} ms for {args.bars:,} bars (ratio {big_eq / ref_eq:.2f})"
    )
    print(
        f"report view to drawn chart, median of {args.repeat} cold loads: "
        f"{ref_med:.0f} ms for {args.reference_bars:,} bars (reference), {big_med:.0f} ms for {args.bars:,} bars"
    )
    print(
        f"  of which waiting for the equity answer (server): {statistics.median(ref_wait):.0f} ms and "
        f"{statistics.median(big_wait):.0f} ms; the rest (page, modules, record, drawing): "
        f"{ref_med - statistics.median(ref_wait):.0f} ms and {big_med - statistics.median(big_wait):.0f} ms"
    )
    every = ", ".join(f"{t:.0f}" for t in big)
    print(
        f"  {args.bars:,} bars: {big_med / REPORT_TARGET_MS:.2f} of the 1 s target; "
        f"{big_med / ref_med:.2f}x the {args.reference_bars:,}-bar reference; each load: {every} ms"
    )


if __name__ == "__main__":
    main()
