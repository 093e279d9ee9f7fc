"""Lean load clients for `bench/api.py`: one keep-alive HTTP/1.1 connection each, prebuilt requests, and closed
loops that report latencies beside the CPU per request of the server and of this process (httpx spent ~4 ms of
CPU per request, as much as the server, on the same two cores)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import trio

__all__ = ["LeanClient", "closed_loop", "paced", "server_cpu_s"]


class LeanClient:
    """One keep-alive HTTP/1.1 connection that sends prebuilt requests and reads back the status and body (by
    Content-Length): a bench client that costs little CPU, so the server it measures keeps the cores."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.stream: trio.SocketStream | None = None
        self.buffer = b""

    @staticmethod
    def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
        if body:
            lines.append("Content-Type: application/json")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, data: bytes) -> tuple[int, bytes]:
        if self.stream is None:
            self.stream = await trio.open_tcp_stream(self.host, self.port)
        await self.stream.send_all(data)
        while b"\r\n\r\n" not in self.buffer:
            await self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(x.split(b":", 1)[1]) for x in lines[1:] if x.lower().startswith(b"content-length:"))
        while len(self.buffer) < length:
            await self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    async def _fill(self) -> None:
        assert self.stream is not None
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise SystemExit("the server closed the connection")
        self.buffer += chunk

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()


def server_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def closed_loop(url: str, clients: int, per_client: int, data: list[bytes], pid: int) -> tuple[list[float], str]:
    """``clients`` lean clients, each sending ``per_client`` requests back to back (``data[i]`` for the i-th);
    returns the latencies (ms) and the CPU per request of the server and of this bench process."""
    return await _drive(url, clients, per_client, data, pid, None)


async def paced(
    url: str, clients: int, per_client: int, rate: float, data: list[bytes], pid: int
) -> tuple[list[float], str]:
    """As `closed_loop`, but each client sends at its own steady ``rate`` (requests per second) from a random
    phase, so the clients' requests overlap as independent users' do, instead of each client firing again the
    instant it is answered (a closed loop, whose latency is the server's throughput seen from ten places). A
    latency counts from the moment the request was due: a late answer that delays the next request is counted."""
    return await _drive(url, clients, per_client, data, pid, 1.0 / rate)


async def _drive(
    url: str, clients: int, per_client: int, data: list[bytes], pid: int, interval: float | None
) -> tuple[list[float], str]:
    latencies: list[float] = []
    rng = random.Random(len(data) * 1000 + clients)

    async def one(phase: float) -> None:
        client = LeanClient(url)
        try:
            await client.send(LeanClient.request("GET", "/health"))
            await ready.wait()
            start = trio.current_time() + phase
            for i in range(per_client):
                if interval is None:
                    due = time.perf_counter()
                else:
                    at = start + i * interval
                    await trio.sleep_until(at)
                    due = time.perf_counter() - max(0.0, trio.current_time() - at)
                status, body = await client.send(data[i % len(data)])
                latencies.append((time.perf_counter() - due) * 1000)
                if status not in (200, 201):
                    raise SystemExit(f"answered {status}: {body[:200]!r}")
        finally:
            await client.aclose()

    ready = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(one, rng.random() * (interval or 0.0))
        await trio.sleep(0.2)
        server0, own0 = server_cpu_s(pid), time.process_time()
        ready.set()
    server1, own1 = server_cpu_s(pid), time.process_time()
    n = clients * per_client
    server = "n/a" if server0 is None or server1 is None else f"{(server1 - server0) * 1000 / n:.2f} ms"
    return latencies, f"CPU per request: server {server}, bench client {(own1 - own0) * 1000 / n:.2f} ms"
