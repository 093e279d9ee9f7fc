"""Worker of bench/api.py: N raw-socket SSE clients in one process, each connecting at its own offset.

Prints one JSON line: first-event latencies (ms), delivery lags (ms, client wall clock minus the event's
serverTime), ids out of order, snapshots after the first (coalesced). Kept lean (selectors, no HTTP library) so the
figures measure the server, not the client.

    python bench/sse_clients.py HOST PORT CLIENTS SPREAD_S STOP_NOTES DEADLINE_S
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time


class Client:
    def __init__(self, host: str, port: int, start_at: float) -> None:
        self.host, self.port, self.start_at = host, port, start_at
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.connected_at = 0.0
        self.first_ms: float | None = None
        self.last_id = -1
        self.disorder = 0
        self.snapshots = 0
        self.done = False

    def connect(self) -> socket.socket:
        self.connected_at = time.perf_counter()
        self.sock = socket.create_connection((self.host, self.port))
        self.sock.sendall(f"GET /api/backtest/stream HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        self.sock.setblocking(False)
        return self.sock

    def feed(self, data: bytes, lags: list[float], stop_notes: str) -> None:
        self.buffer += data
        if self.first_ms is None and b"\r\n\r\n" in self.buffer:
            _, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        while b"\n\n" in self.buffer:
            frame, _, self.buffer = self.buffer.partition(b"\n\n")
            fields: dict[str, str] = {}
            for line in frame.split(b"\n"):
                if line.endswith(b"\r"):
                    line = line[:-1]
                name, _, value = line.decode().partition(": ")
                if name in ("id", "event", "data"):
                    fields[name] = value
            if "data" not in fields:
                continue  # chunk-size lines, comments, heartbeats
            now = time.perf_counter()
            if self.first_ms is None:
                self.first_ms = (now - self.connected_at) * 1000
            elif fields.get("event") == "snapshot":
                self.snapshots += 1
            event_id = int(fields["id"])
            if event_id <= self.last_id:
                self.disorder += 1
            self.last_id = event_id
            if fields.get("event") == "run":
                doc = json.loads(fields["data"])
                lags.append(time.time() * 1000 - doc["serverTime"])
                if doc.get("notes") == stop_notes and doc.get("status") == "done":
                    self.done = True


def main() -> None:
    host, port, count, spread = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    stop_notes, deadline = sys.argv[5], time.perf_counter() + float(sys.argv[6])
    begin = time.perf_counter()
    clients = [Client(host, port, begin + spread * i / count) for i in range(count)]
    waiting = list(clients)
    selector = selectors.DefaultSelector()
    lags: list[float] = []
    while time.perf_counter() < deadline and not all(c.done for c in clients):
        now = time.perf_counter()
        while waiting and waiting[0].start_at <= now:
            client = waiting.pop(0)
            selector.register(client.connect(), selectors.EVENT_READ, client)
        timeout = max(0.0, min(0.05, waiting[0].start_at - now)) if waiting else 0.05
        for key, _ in selector.select(timeout):
            try:
                data = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            if data:
                key.data.feed(data, lags, stop_notes)
            else:
                selector.unregister(key.fileobj)
    print(
        json.dumps(
            {
                "first": [c.first_ms for c in clients if c.first_ms is not None],
                "lags": lags,
                "disorder": sum(c.disorder for c in clients),
                "snapshots": sum(c.snapshots for c in clients),
                "done": sum(c.done for c in clients),
                "clients": count,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
