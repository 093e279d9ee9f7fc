"""Benchmark: a service with a long history (20,000 runs) keeps its event loop free (issue 8, defect 7).

The SSE snapshot used to hold every run ever (15.6 MB and ~0.8 s of blocked loop with 20,000 runs, rebuilt on most
connects). It now holds the newest 200 and the total; older runs are paged with ``GET /api/backtest?before=``.
Measured against a real ``spark serve`` on loopback (never asserted):

  snapshot   bytes of the first SSE frame, against the bytes of every record (what a full snapshot would ship)
  first      20 clients connecting within one second: first SSE event p95                  target < 100 ms
  health     GET /health p99 while those 20 clients connect                                 target < 50 ms
  paging     GET /api/backtest?before=<id> deep in the history, p95, against the newest page
  start-up   rebuilding the store from 20,000 run files, against the same files read and parsed in this process

Each figure is printed beside a reference measured in the same run (idle /health of the same server).

    python bench/history.py [--runs 20000]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).parent))
from api import Server, make_history, pct, report, spawn, timed_gets


def first_frame_bytes(url: str) -> int:
    """The size of the first SSE frame (the snapshot), read off a raw socket."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"GET /api/backtest/stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while b"\n\n" not in data.partition(b"\r\n\r\n")[2]:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        body = data.partition(b"\r\n\r\n")[2]
        # chunked transfer: the frame is what lies between the first chunk-size line and the blank line
        return len(body.partition(b"\n\n")[0])


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="spark-bench-history-") as tmp:
        root = Path(tmp)
        make_history(root, runs)
        files = sorted((root / "evidence" / "backtest").glob("run_*.json"))
        t0 = time.perf_counter()
        records = [json.loads(p.read_bytes())["runs"][0] for p in files]
        parse_s = time.perf_counter() - t0
        everything = len(json.dumps({"runs": records}, separators=(",", ":")))
        t0 = time.perf_counter()
        server = Server(root, {"BACKTEST_IMPL": "mock", "SPARK_SSE_MAX_CLIENTS": "1000"})
        startup_s = time.perf_counter() - t0
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                await timed_gets(client, "/health", 50)
                idle = await timed_gets(client, "/health", 500)
                print(
                    f"history: {runs} runs; reference: idle /health p95 {pct(idle, 95):.2f} ms, p99 "
                    f"{pct(idle, 99):.2f} ms",
                    flush=True,
                )
                print(
                    f"  start-up with {runs} runs: {startup_s:.2f} s (reading and parsing the files here: "
                    f"{parse_s:.2f} s, {startup_s / parse_s:.1f}x)",
                    flush=True,
                )
                size = await trio.to_thread.run_sync(first_frame_bytes, server.url)
                print(
                    f"  SSE snapshot: {size / 1e3:.1f} kB against {everything / 1e6:.1f} MB for every record "
                    f"({size / everything:.4f} of it)",
                    flush=True,
                )

                host, port = server.url.removeprefix("http://").rsplit(":", 1)
                worker = Path(__file__).with_name("sse_clients.py")
                proc = spawn([sys.executable, str(worker), host, port, "20", "1.0", "never", "4"])
                health: list[float] = []
                deadline = trio.current_time() + 3.0
                while trio.current_time() < deadline:
                    health += await timed_gets(client, "/health", 1)
                    await trio.sleep(0.005)
                result = json.loads((await trio.to_thread.run_sync(proc.communicate))[0])
                report("SSE first event, 20 clients", result["first"], 95, 100, pct(idle, 95))
                report("/health while they connect", health, 99, 50, pct(idle, 99))

                newest = (await client.get("/api/backtest?limit=100")).json()
                assert newest["total"] == runs, newest["total"]
                deep = newest["runs"][-1]["id"]
                for _ in range(runs // 100 // 2):  # half-way down the history
                    deep = (await client.get(f"/api/backtest?limit=100&before={deep}")).json()["runs"][-1]["id"]
                top = await timed_gets(client, "/api/backtest?limit=100", 200)
                paged = await timed_gets(client, f"/api/backtest?limit=100&before={deep}", 200)
                ratio = pct(paged, 95) / pct(top, 95)
                print(
                    f"  GET /api/backtest?before= half-way down: p95 {pct(paged, 95):.2f} ms against the newest "
                    f"page's {pct(top, 95):.2f} ms ({ratio:.2f}x); target < 50 ms",
                    flush=True,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20_000)
    trio.run(main, parser.parse_args().runs)
