"""`spark loadtest sse` against scripted SSE servers: figures, lost events, the SLO verdict and exit codes.

The run against a real `spark serve` (20 clients) is in test_ops_server.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import socket
import subprocess
import sys

import pytest
import trio
from opshelp import clean_env
from sse_fakes import delayed, gappy, one_then_close, prompt, serve_script

from spark.errors import InputError
from spark.ops.loadtest import Progress, percentile, run_loadtest, stream_url


async def _cli(tmp_path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        [sys.executable, "-m", "spark.cli", "loadtest", "sse", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


async def test_a_prompt_server_meets_the_slo_with_figures() -> None:
    seen: list[Progress] = []
    async with serve_script(prompt) as url:
        report = await run_loadtest(url, clients=10, duration_s=1.5, on_progress=seen.append, progress_every_s=0.5)
    assert report.passed, report.failures
    assert report.url == url + "/api/backtest/stream"
    assert (report.connected, report.errors, report.lost, report.out_of_order) == (10, 0, 0, 0)
    assert report.first_event_p95_s is not None and report.first_event_p95_s < 1.0
    assert report.events >= 10 * 5  # a snapshot and a run event every 100 ms for 1.5 s
    assert report.lag_p95_s is not None and 0 <= report.lag_p95_s < 1.0
    assert report.lag_events == report.events - 10  # change events only: the 10 snapshots are left out
    assert seen and seen[-1].with_event == 10


async def test_gaps_in_ids_are_lost_events_and_snapshot_gaps_coalesced() -> None:
    async with serve_script(gappy) as url:
        report = await run_loadtest(url, clients=3, duration_s=0.8)
    assert (report.lost, report.coalesced, report.events) == (3 * 2, 3 * 3, 3 * 4)


async def test_a_slow_first_event_misses_the_slo_and_exits_1(tmp_path) -> None:
    async with serve_script(delayed(2.0)) as url:
        done = await _cli(tmp_path, "--clients", "5", "--duration", "3", "--url", url)
    out = done.stdout.decode()
    assert done.returncode == 1, out + done.stderr.decode()
    assert "SLO MISSED: first-event p95" in out


async def test_a_prompt_server_passes_and_exits_0_with_plain_progress_lines(tmp_path) -> None:
    async with serve_script(prompt) as url:
        done = await _cli(tmp_path, "--clients", "20", "--duration", "1.5", "--url", url)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, out + err
    assert "SLO met" in out and "first event   p50" in out and "delivery lag" in out and "lost events   0" in out
    progress = err.splitlines()
    assert progress and all(line.startswith("loadtest ") for line in progress)
    assert "\r" not in err  # not a terminal: plain lines, no in-place refresh


async def test_on_a_terminal_the_progress_line_is_refreshed_in_place(tmp_path) -> None:
    main, child = pty.openpty()
    try:
        async with serve_script(prompt) as url:
            done = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "spark.cli",
                    "loadtest",
                    "sse",
                    "--clients",
                    "3",
                    "--duration",
                    "1",
                    "--url",
                    url,
                ],
                cwd=tmp_path,
                env=clean_env(tmp_path),
                capture_stdout=True,
                stderr=child,
                check=False,
            )
        os.close(child)
        child = -1
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal's other side is closed and drained
            while chunk := os.read(main, 65536):
                shown += chunk
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    assert done.returncode == 0, done.stdout
    assert shown.count(b"\r\x1b[2Kloadtest ") >= 2  # redrawn, not appended


async def test_clients_whose_stream_ends_are_errors(tmp_path) -> None:
    async with serve_script(one_then_close) as url:
        done = await _cli(tmp_path, "--clients", "4", "--duration", "1", "--url", url, "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["errors"] == 4 and report["error_kinds"] == {"stream ended by the server": 4}
    assert report["failures"] == ["errors 100.0% >= 1%"]


async def test_a_refusing_server_is_a_clear_one_line_error(tmp_path) -> None:
    async with serve_script(prompt, status="503 Service Unavailable", content_type="application/json") as url:
        done = await _cli(tmp_path, "--clients", "2", "--duration", "1", "--url", url)
    err = done.stderr.decode()
    assert done.returncode == 2 and len(err.strip().splitlines()) == 1
    assert "answered 503" in err and "not an event stream" in err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "ftp://127.0.0.1/x"],
        ["--url", "not a url"],
        ["--url", "http://127.0.0.1:99999"],
        ["--clients", "0"],
        ["--clients", "many"],
        ["--duration", "-1"],
        ["--starts", "2"],
        ["--starts", "-1", "--token", "t"],
        ["--url", "http://127.0.0.1:{closed}"],
    ],
)
def test_bad_input_and_unreachable_servers_are_one_line_errors(spark_here, args: list[str]) -> None:
    args = [a.replace("{closed}", str(_closed_port())) for a in args]
    done = spark_here("loadtest", "sse", "--duration", "1", *args)
    err = done.stderr
    assert done.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("spark: error:"), err


def test_stream_url_and_percentiles() -> None:
    assert stream_url("http://127.0.0.1:4001") == "http://127.0.0.1:4001/api/backtest/stream"
    assert stream_url("http://h:1/custom/stream?x=1") == "http://h:1/custom/stream?x=1"
    with pytest.raises(InputError):
        stream_url("127.0.0.1:4001")
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)
