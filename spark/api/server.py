"""Serve the app with Hypercorn's trio protocol on sockets we make ourselves, with a shutdown that ends on time.

Why not ``hypercorn.trio.serve`` (or its ``worker_serve``): Hypercorn shields every socket write, so a client that
stops reading (a stalled SSE consumer) pins its connection, and a graceful shutdown waits on it. Two bounds:

- The listening sockets carry ``TCP_USER_TIMEOUT`` (inherited by accepted connections on Linux): while serving, the
  kernel aborts a connection whose data stays unacknowledged or unsent behind a zero window for longer than
  ``stall_timeout_s``, which fails the stuck write and frees the task. Elsewhere the option is skipped.
- At shutdown, requests in flight get ``graceful_timeout_s``; then every connection still open is aborted (reset,
  its unsent data dropped), which wakes a write stuck in its shield at once. Without this a stalled client held a
  SIGTERM for the rest of the stall timeout (~28 s).

The loop is Hypercorn's own ``worker_serve`` (lifespan, one ``TCPServer`` per connection) for plain HTTP sockets
only, plus the set of open connections that the abort needs.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState, LifespanState
from hypercorn.utils import repr_socket_addr, wrap_app

__all__ = ["GRACEFUL_TIMEOUT_S", "STALL_TIMEOUT_S", "serve_app"]

STALL_TIMEOUT_S = 30.0
GRACEFUL_TIMEOUT_S = 5.0
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection and drops unsent data


def _config(host: str, port: int, graceful_timeout_s: float) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None  # spark.api.observe writes one line per request instead
    config.errorlog = logging.getLogger("hypercorn.error")  # through the process's handler (spark.logs)
    config.graceful_timeout = graceful_timeout_s
    config.shutdown_timeout = graceful_timeout_s  # the app's lifespan shutdown, after the connections
    config.keep_alive_timeout = 75.0
    return config


def _sockets(config: Config, stall_timeout_s: float) -> Sockets:
    sockets = config.create_sockets()
    for sock in sockets.insecure_sockets:
        if hasattr(socket, "TCP_USER_TIMEOUT") and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, int(stall_timeout_s * 1000)))
        sock.listen(config.backlog)
    return sockets


def _abort(stream: trio.SocketStream) -> None:
    """Reset one connection now. Its tasks see ClosedResourceError, which Hypercorn handles as a closed client."""
    with contextlib.suppress(OSError):
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    stream.socket.close()


async def _abort_at(deadline: float, streams: set[trio.SocketStream]) -> None:
    await trio.sleep_until(deadline)
    for stream in list(streams):
        _abort(stream)


async def serve_app(
    app: Any,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[Any]],
    stall_timeout_s: float = STALL_TIMEOUT_S,
    graceful_timeout_s: float = GRACEFUL_TIMEOUT_S,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` (0: a free port) until ``shutdown_trigger`` returns; then stop accepting,
    finish requests in flight for at most ``graceful_timeout_s``, reset the connections left and run the app's
    shutdown (also bounded by ``graceful_timeout_s``). ``task_status.started`` gets the bound URLs
    (``http://h:p``). Raises OSError when the address cannot be bound."""
    config = _config(host, port, graceful_timeout_s)
    sockets = _sockets(config, stall_timeout_s)
    asgi = wrap_app(app, config.wsgi_max_body_size, "asgi")
    config.set_statsd_logger_class(StatsdLogger)
    state: LifespanState = {}
    lifespan = Lifespan(asgi, config, state)
    context = WorkerContext(None)
    streams: set[trio.SocketStream] = set()

    async def connection(stream: trio.SocketStream) -> None:
        streams.add(stream)
        try:
            await TCPServer(asgi, config, context, ConnectionState(state.copy()), stream)
        finally:
            streams.discard(stream)

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as connections:
            listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in sockets.insecure_sockets]
            binds = [f"http://{repr_socket_addr(s.family, s.getsockname())}" for s in sockets.insecure_sockets]
            for bind in binds:
                await config.log.info(f"Running on {bind} (CTRL + C to quit)")
            async with trio.open_nursery() as accepting:
                accepting.start_soon(partial(trio.serve_listeners, connection, listeners, handler_nursery=connections))
                task_status.started(binds)
                await shutdown_trigger()
                accepting.cancel_scope.cancel()
            for listener in listeners:  # a new connection is refused now, not left waiting in the backlog
                await listener.aclose()
            await context.terminated.set()  # idle keep-alive connections close themselves
            deadline = trio.current_time() + graceful_timeout_s
            connections.cancel_scope.deadline = deadline
            lifespan_nursery.start_soon(_abort_at, deadline, streams)
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
