"""Serve the app with Hypercorn's trio worker on sockets we make ourselves.

Why not ``hypercorn.trio.serve``: Hypercorn shields every socket write, so a client that stops reading (a stalled SSE
consumer) pins its connection forever, and a graceful shutdown waits on it forever. The listening sockets here
carry ``TCP_USER_TIMEOUT`` (inherited by accepted connections on Linux): the kernel aborts a connection whose
data stays unacknowledged or unsent behind a zero window for longer than ``stall_timeout_s``, which fails the
stuck write and frees the task. Elsewhere the option is skipped (a stalled client then waits for the kernel).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

__all__ = ["STALL_TIMEOUT_S", "serve_app"]

STALL_TIMEOUT_S = 30.0


def _config(host: str, port: int, graceful_timeout_s: float) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = graceful_timeout_s
    config.keep_alive_timeout = 75.0
    return config


def _sockets(config: Config, stall_timeout_s: float) -> Sockets:
    sockets = config.create_sockets()
    for sock in sockets.insecure_sockets:
        if hasattr(socket, "TCP_USER_TIMEOUT") and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, int(stall_timeout_s * 1000)))
        sock.listen(config.backlog)
    return sockets


async def serve_app(
    app: Any,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[Any]],
    stall_timeout_s: float = STALL_TIMEOUT_S,
    graceful_timeout_s: float = 5.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` (0: a free port) until ``shutdown_trigger`` returns; then finish requests in
    flight for at most ``graceful_timeout_s``. ``task_status.started`` gets the bound URLs (``http://h:p``).
    Raises OSError when the address cannot be bound."""
    config = _config(host, port, graceful_timeout_s)
    sockets = _sockets(config, stall_timeout_s)
    await worker_serve(
        wrap_app(app, config.wsgi_max_body_size, "asgi"),
        config,
        sockets=sockets,
        shutdown_trigger=shutdown_trigger,
        task_status=task_status,
    )
