"""Read-only routes: runs, their reports, equity, artifacts, plugins, config, health and metrics.

Run ids in paths are checked against the id format before anything touches a file; artifact names come only from
the run's own listed set; a file is opened without following symlinks and only when it lies inside the evidence
folder. Nothing here mutates state.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response, request

from spark.api.auth import authenticate
from spark.api.wire import json_response
from spark.engine.gates import GATE_ORDER
from spark.errors import InputError, NotFound
from spark.ids import check_run_id
from spark.plugin.services import Services
from spark.service.curves import DEFAULT_POINTS, MAX_POINTS, MIN_POINTS
from spark.service.denials import MAX_DENIED_PAGE
from spark.service.record import STATUSES
from spark.service.report import MAX_TRADES_PAGE, TRADE_SORTS
from spark.service.store import SORT_FIELDS

__all__ = ["read_routes"]

MAX_LIMIT = 10_000
_CHUNK = 64 * 1024
RENDER_CHUNK = 256 * 1024
_CONTENT_TYPES = {".json": "application/json", ".csv": "text/csv; charset=utf-8"}


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not low <= int(raw) <= high:
        raise InputError(f"{name} must be an integer from {low} to {high}, got {raw[:40]!r}", field=name)
    return int(raw)


def _choice_arg(name: str, allowed: Sequence[str]) -> str | None:
    raw = request.args.get(name)
    if raw is not None and raw not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {raw[:40]!r}", field=name)
    return raw


def _text_arg(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is not None and not (0 < len(raw) <= 64):
        raise InputError(f"{name} must be 1 to 64 characters", field=name)
    return raw


def _window_args() -> tuple[int | None, int | None]:
    """``from`` and ``to`` (epoch ms, both inclusive; either may be left out): a zoomed window."""
    bounds = []
    for name in ("from", "to"):
        raw = request.args.get(name)
        if raw is not None and not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 17):
            raise InputError(f"{name} must be epoch milliseconds, got {raw[:40]!r}", field=name)
        bounds.append(None if raw is None else int(raw))
    start, end = bounds
    if start is not None and end is not None and end < start:
        raise InputError(f"to ({end}) is before from ({start})", field="to")
    return start, end


def _only_args(*known: str) -> None:
    """Refuse query parameters the route does not take (a typo is a 400, never silently ignored)."""
    for name in request.args:
        if name not in known:
            allowed = ", ".join(known) or "none"
            raise InputError(f"unknown query parameter {name[:40]!r} (allowed: {allowed})", field=name[:40])


def _run_id(run_id: str) -> str:
    return check_run_id(run_id)  # InputError (400, field "id") before anything touches a file


def read_routes(services: Services) -> Blueprint:
    bp = Blueprint("read", __name__)

    def known_run(run_id: str) -> dict[str, Any]:
        record = services.get_run(_run_id(run_id))
        if record is None:
            raise NotFound(f"no run {run_id}", field="id")
        return record

    @bp.get("/api/backtest")
    async def list_runs() -> Response:
        _only_args("limit", "before", "status", "strategy", "pair", "sort", "offset")
        limit = _int_arg("limit", 100, 1, MAX_LIMIT)
        offset = _int_arg("offset", 0, 0, 10_000_000)
        before = request.args.get("before")
        if before is not None:
            before = check_run_id(before)
        status = _choice_arg("status", STATUSES)
        sort = _choice_arg("sort", [*SORT_FIELDS, *(f"-{name}" for name in SORT_FIELDS)])
        if sort is not None and before is not None:
            raise InputError("before pages the default order; page a sorted list with offset", field="before")
        strategy, pair = _text_arg("strategy"), _text_arg("pair")
        return json_response(
            await services.list_runs(
                limit, before, status=status, strategy=strategy, pair=pair, sort=sort, offset=offset
            )
        )

    @bp.get("/api/backtest/<run:run_id>")
    async def run_detail(run_id: str) -> Response:
        record = known_run(run_id)
        summary = await services.run_summary(run_id) or {}
        return json_response({**record, **{k: v for k, v in summary.items() if k in ("report", "metadata")}})

    @bp.get("/api/backtest/<run:run_id>/equity")
    async def run_equity(run_id: str) -> Response:
        _only_args("points", "from", "to")
        points = _int_arg("points", DEFAULT_POINTS, MIN_POINTS, MAX_POINTS)
        start, end = _window_args()
        known_run(run_id)
        curve = await services.equity(run_id, points, start, end)
        if curve is None:
            raise NotFound(f"run {run_id} has no equity curve (yet)", field="id")
        return json_response({"id": run_id, "points": points, "from": start, "to": end, **curve})

    @bp.get("/api/backtest/<run:run_id>/ohlc")
    async def run_ohlc(run_id: str) -> Response:
        _only_args("points", "from", "to")
        points = _int_arg("points", DEFAULT_POINTS, MIN_POINTS, MAX_POINTS)
        start, end = _window_args()
        known_run(run_id)
        candles = await services.price(run_id, points, start, end)
        return json_response({"id": run_id, "points": points, "from": start, "to": end, **candles})

    @bp.get("/api/backtest/<run:run_id>/trades")
    async def run_trades(run_id: str) -> Response:
        _only_args("sort", "limit", "offset")
        sort = _choice_arg("sort", [*TRADE_SORTS, *(f"-{name}" for name in TRADE_SORTS)]) or "id"
        limit = _int_arg("limit", 100, 1, MAX_TRADES_PAGE)
        offset = _int_arg("offset", 0, 0, 100_000_000)
        known_run(run_id)
        return json_response({"id": run_id, **await services.trades(run_id, sort, limit, offset)})

    @bp.get("/api/backtest/<run:run_id>/denied")
    async def run_denied(run_id: str) -> Response:
        _only_args("limit", "offset", "gate")
        limit = _int_arg("limit", 100, 1, MAX_DENIED_PAGE)
        offset = _int_arg("offset", 0, 0, 100_000_000)
        gate = _choice_arg("gate", GATE_ORDER)
        known_run(run_id)
        page = await services.denied(run_id, limit, offset, gate)
        if page is None:
            raise NotFound(f"run {run_id} has no result (yet)", field="id")
        return json_response({"id": run_id, **page})

    @bp.get("/api/backtest/<run:run_id>/monthly")
    async def run_monthly(run_id: str) -> Response:
        _only_args()
        known_run(run_id)
        returns = await services.monthly(run_id)
        if returns is None:
            raise NotFound(f"run {run_id} has no equity curve (yet)", field="id")
        return json_response({"id": run_id, **returns})

    @bp.get("/api/backtest/<run:run_id>/artifacts")
    async def run_artifacts(run_id: str) -> Response:
        known_run(run_id)
        return json_response({"artifacts": await services.artifacts(run_id)})

    @bp.get("/api/backtest/<run:run_id>/artifacts/<name>")
    async def run_artifact(run_id: str, name: str) -> Response:
        known_run(run_id)
        path = await services.artifact_path(run_id, name)
        if path is None:
            lines = await services.rendered_artifact(run_id, name)
            if lines is None:
                raise NotFound(f"run {run_id} has no artifact {name[:64]!r}", field="name")
            headers = {"Content-Disposition": f'attachment; filename="{name}"'}
            return Response(_RenderedBody(lines), status=200, content_type=_CONTENT_TYPES[".csv"], headers=headers)
        fd = await trio.to_thread.run_sync(_open_inside, path, services.settings.evidence_dir)
        size = os.fstat(fd).st_size
        content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        headers = {"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{path.name}"'}
        return Response(_FileBody(fd), status=200, content_type=content_type, headers=headers)

    @bp.get("/api/strategies")
    async def strategies() -> Response:
        return json_response({"strategies": [s.to_json() for s in services.plugins.strategies.values()]})

    @bp.get("/api/feeds")
    async def feeds() -> Response:
        return json_response({"feeds": [f.to_json() for f in services.plugins.feeds.values()]})

    @bp.get("/api/config")
    async def config() -> Response:
        """The dashboard's flags, and what an operator (`spark status`, `spark reload`) checks after a reload:
        the plugins in effect (loaded, not switched off) and how the reloads went."""
        settings, reloaded = services.settings, services.reload_status
        return json_response(
            {
                "adminEnabled": settings.admin_enabled,
                "writeEnabled": services.plugin_enabled("write"),
                "impl": settings.impl,
                "disabledPlugins": list(settings.disabled_plugins),
                "plugins": [name for name in services.plugins.names if services.plugin_enabled(name)],
                "pluginGeneration": services.plugin_generation()[0].generation,
                "reloads": reloaded.reloads,
                "reloadedAt": reloaded.reloaded_at,
                "reloadAttempts": reloaded.attempts,
                "reloadError": reloaded.error,
            }
        )

    @bp.get("/api/whoami")
    async def whoami() -> Response:
        """The user a token belongs to (the dashboard shows it and guards its buttons by the role)."""
        _only_args()
        user = authenticate(services)
        return json_response({"user": user.name, "role": user.role})

    @bp.get("/health")
    async def health() -> Response:
        if services.healthy():
            return json_response({"status": "ok"})
        return json_response(
            {"status": "down", "error": "unavailable", "message": "an actor has stopped", "field": None}, 503
        )

    @bp.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(services.registry), status=200, content_type=CONTENT_TYPE_LATEST)

    return bp


def _open_inside(path: Path, root: Path) -> int:
    """Open ``path`` read-only if it is a regular file inside ``root`` reached without symlinks; NotFound otherwise."""
    root_real = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root_real) or path.is_symlink():
        raise NotFound("no such artifact", field="name")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        raise NotFound("no such artifact", field="name") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotFound("no such artifact", field="name")
    return fd


class _FileBody:
    """The file's bytes in chunks, read off the event loop. Quart calls ``aclose`` however the answer ends (even
    when it never started), so the descriptor is always closed."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def __aiter__(self) -> _FileBody:
        return self

    async def __anext__(self) -> bytes:
        if self._fd is None:
            raise StopAsyncIteration
        chunk = await trio.to_thread.run_sync(os.read, self._fd, _CHUNK)
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _RenderedBody:
    """A CSV rendered as it is sent: lines taken from the renderer in a worker thread, about RENDER_CHUNK bytes at a
    time, so a 1,000,000-bar equity CSV never blocks the event loop nor sits in memory whole."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines: Iterator[str] | None = lines

    def __aiter__(self) -> _RenderedBody:
        return self

    async def __anext__(self) -> bytes:
        if self._lines is None:
            raise StopAsyncIteration
        chunk = await trio.to_thread.run_sync(_take, self._lines, RENDER_CHUNK)
        if not chunk:
            self._lines = None
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self._lines = None


def _take(lines: Iterator[str], size: int) -> bytes:
    parts, total = [], 0
    for line in lines:
        parts.append(line)
        total += len(line)
        if total >= size:
            break
    return "".join(parts).encode()
