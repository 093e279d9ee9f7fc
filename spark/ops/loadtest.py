"""SSE load test: N clients on one stream URL for a bounded time, measured against the seed's SLO.

Each client records the time from opening its connection to its first event, the delivery lag of every change
event (receive wall-clock time minus the ``serverTime`` the server put in the event; snapshots are left out, since
a server may build one snapshot and hand it to many clients), and gaps in the event ids (lost events). An idle
server sends no change events: ``starts`` mock or real runs started during the test (with the admin token) make
them flow. A client whose connection fails, is refused (e.g. 503 over the client cap), ends before the test does, or
gets no event at all counts as an error. The SLO (first-event p95 <= 1.5 s, errors < 1 %) decides the verdict.

Everything runs on Trio with one httpx client; the whole test is cancelled when ``duration`` is over, so it is
bounded whatever the server does. A short pre-flight request turns a bad URL or an unreachable server into one
clear `spark.errors.InputError` instead of N identical failures.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import trio
from httpx_sse import SSEError, aconnect_sse

from spark.errors import InputError

__all__ = ["SLO", "ClientResult", "LoadReport", "Progress", "percentile", "run_loadtest", "stream_url"]

STREAM_PATH = "/api/backtest/stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class SLO:
    """The seed's SSE objective: first event p95 within 1.5 s, fewer than 1 % of clients in error."""

    first_event_p95_s: float = 1.5
    max_error_rate: float = 0.01


@dataclass(slots=True, kw_only=True)
class ClientResult:
    """What one client saw. Mutated only by its own task."""

    first_event_s: float | None = None
    events: int = 0
    lags_s: list[float] = field(default_factory=list)
    lost: int = 0  # ids skipped before a "run" event
    coalesced: int = 0  # ids skipped before a fresh snapshot (the server's answer to a slow client)
    out_of_order: int = 0  # ids not above the previous one
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    elapsed_s: float
    clients: int
    connected: int
    with_event: int
    events: int
    errors: int
    lost: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReport:
    url: str
    clients: int
    duration_s: float
    connected: int
    errors: int
    error_rate: float
    error_kinds: dict[str, int]
    first_event_p50_s: float | None
    first_event_p95_s: float | None
    first_event_max_s: float | None
    lag_p50_s: float | None
    lag_p95_s: float | None
    lag_max_s: float | None
    events: int
    lag_events: int
    lost: int
    coalesced: int
    out_of_order: int
    starts_requested: int
    starts_accepted: int
    start_errors: dict[str, int]
    slo_first_event_p95_s: float
    slo_max_error_rate: float
    passed: bool
    failures: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def stream_url(url: str) -> str:
    """The SSE URL for ``url``: a bare server URL gets ``/api/backtest/stream``; InputError when it is no URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--url {url!r}: expected http://HOST[:PORT][/path]", field="url")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InputError(f"--url {url!r}: bad port", field="url") from None
    path = parts.path if parts.path not in ("", "/") else STREAM_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` (0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def run_loadtest(
    url: str,
    *,
    clients: int,
    duration_s: float,
    slo: SLO = SLO(),
    connect_timeout_s: float = 5.0,
    on_progress: Callable[[Progress], None] | None = None,
    progress_every_s: float = 0.5,
    starts: int = 0,
    token: str | None = None,
) -> LoadReport:
    """Run ``clients`` SSE clients against ``url`` for ``duration_s`` seconds and judge the result by ``slo``.

    With ``starts`` > 0, that many runs are started (``POST /api/backtest/start`` with ``token``) during the first
    half of the test, so that change events flow and delivery lag and lost events are measured.
    """
    if clients < 1:
        raise InputError("--clients must be at least 1", field="clients")
    if not 0 < duration_s <= 24 * 3600:
        raise InputError("--duration must be more than 0 and at most 86400 seconds", field="duration")
    if starts < 0:
        raise InputError("--starts must be 0 or more", field="starts")
    if starts and not token:
        raise InputError("--starts needs the admin token (--token or ADMIN_TOKEN)", field="token")
    target = stream_url(url)
    start_results: list[str] = []
    limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=0)
    timeout = httpx.Timeout(connect=connect_timeout_s, read=None, write=connect_timeout_s, pool=connect_timeout_s)
    results = [ClientResult() for _ in range(clients)]
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as http:
        await _preflight(http, target)
        started = trio.current_time()
        with trio.move_on_after(duration_s):
            async with trio.open_nursery() as outer:
                if on_progress is not None:
                    outer.start_soon(_report_progress, results, started, on_progress, progress_every_s)
                async with trio.open_nursery() as nursery:
                    for result in results:
                        nursery.start_soon(_client, http, target, result)
                    if starts:
                        nursery.start_soon(_starter, http, target, token, starts, duration_s, start_results)
                outer.cancel_scope.cancel()  # every client is done early (all failed): no need to wait
        elapsed = trio.current_time() - started
    if on_progress is not None:
        on_progress(_progress(results, elapsed))
    return _report(target, results, duration_s, slo, starts, start_results)


async def _preflight(http: httpx.AsyncClient, target: str) -> None:
    try:
        async with http.stream("GET", target, headers={"Accept": "text/event-stream"}) as response:
            kind = response.headers.get("content-type", "").partition(";")[0].strip()
            if response.status_code != 200 or kind != "text/event-stream":
                raise InputError(
                    f"{target} answered {response.status_code} {kind or 'without a content type'}, not an event stream",
                    field="url",
                )
    except httpx.HTTPError as exc:
        raise InputError(f"cannot reach {target}: {_describe(exc)}", field="url") from None


async def _client(http: httpx.AsyncClient, target: str, result: ClientResult) -> None:
    opened = trio.current_time()
    previous: int | None = None
    try:
        async with aconnect_sse(http, "GET", target) as source:
            if source.response.status_code != 200:
                result.error = f"HTTP {source.response.status_code}"
                return
            async for event in source.aiter_sse():
                if not event.data:  # heartbeat comments and retry-only frames
                    continue
                received = time.time()
                if result.first_event_s is None:
                    result.first_event_s = trio.current_time() - opened
                result.events += 1
                server_time = None if event.event == "snapshot" else _server_time(event.data)
                if server_time is not None:
                    result.lags_s.append(max(0.0, received - server_time / 1000))
                current = _event_id(event.id)
                if current is not None and previous is not None:
                    if current <= previous:
                        result.out_of_order += 1
                    elif current > previous + 1:
                        if event.event == "snapshot":
                            result.coalesced += current - previous - 1
                        else:
                            result.lost += current - previous - 1
                if current is not None:
                    previous = current if previous is None else max(previous, current)
        result.error = "stream ended by the server"
    except SSEError:
        result.error = "not an event stream"
    except httpx.HTTPError as exc:
        result.error = _describe(exc)


async def _starter(
    http: httpx.AsyncClient, target: str, token: str | None, starts: int, duration_s: float, out: list[str]
) -> None:
    """Start ``starts`` runs evenly over the first half of the test, after the clients had a moment to connect."""
    parts = urlsplit(target)
    start_url = urlunsplit((parts.scheme, parts.netloc, "/api/backtest/start", "", ""))
    gap = duration_s / 2 / starts
    await trio.sleep(min(0.5, duration_s / 10))
    for _ in range(starts):
        try:
            response = await http.post(
                start_url, json={"notes": "spark loadtest sse"}, headers={"x-admin-token": token or ""}
            )
            out.append("accepted" if response.status_code == 201 else f"HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            out.append(_describe(exc))
        await trio.sleep(gap)


def _server_time(data: str) -> float | None:
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    value = doc.get("serverTime") if isinstance(doc, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _event_id(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed ({exc or 'refused'})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed by the server"
    return f"{type(exc).__name__}: {exc}"


async def _report_progress(
    results: list[ClientResult], started: float, on_progress: Callable[[Progress], None], every_s: float
) -> None:
    while True:
        await trio.sleep(every_s)
        on_progress(_progress(results, trio.current_time() - started))


def _progress(results: list[ClientResult], elapsed: float) -> Progress:
    return Progress(
        elapsed_s=elapsed,
        clients=len(results),
        connected=sum(1 for r in results if r.first_event_s is not None and r.error is None),
        with_event=sum(1 for r in results if r.first_event_s is not None),
        events=sum(r.events for r in results),
        errors=sum(1 for r in results if r.error),
        lost=sum(r.lost for r in results),
    )


def _report(
    target: str, results: list[ClientResult], duration_s: float, slo: SLO, starts: int, start_results: list[str]
) -> LoadReport:
    for r in results:
        if r.error is None and r.first_event_s is None:
            r.error = f"no event within {duration_s:g} s"
    kinds: dict[str, int] = {}
    for r in results:
        if r.error:
            kinds[r.error] = kinds.get(r.error, 0) + 1
    firsts = [r.first_event_s for r in results if r.first_event_s is not None]
    lags = [lag for r in results for lag in r.lags_s]
    errors = sum(kinds.values())
    error_rate = errors / len(results)
    p95 = percentile(firsts, 95)
    failures = []
    if p95 is None or p95 > slo.first_event_p95_s:
        shown = "no first event at all" if p95 is None else f"{p95 * 1000:.0f} ms"
        failures.append(f"first-event p95 {shown} > {slo.first_event_p95_s * 1000:.0f} ms")
    if error_rate >= slo.max_error_rate:
        failures.append(f"errors {error_rate:.1%} >= {slo.max_error_rate:.0%}")
    return LoadReport(
        url=target,
        clients=len(results),
        duration_s=duration_s,
        connected=len(firsts),
        errors=errors,
        error_rate=error_rate,
        error_kinds=kinds,
        first_event_p50_s=percentile(firsts, 50),
        first_event_p95_s=p95,
        first_event_max_s=max(firsts, default=None),
        lag_p50_s=percentile(lags, 50),
        lag_p95_s=percentile(lags, 95),
        lag_max_s=max(lags, default=None),
        events=sum(r.events for r in results),
        lag_events=len(lags),
        lost=sum(r.lost for r in results),
        starts_requested=starts,
        starts_accepted=start_results.count("accepted"),
        start_errors={
            **{k: start_results.count(k) for k in sorted(set(start_results) - {"accepted"})},
            **({"not sent before the end": starts - len(start_results)} if len(start_results) < starts else {}),
        },
        coalesced=sum(r.coalesced for r in results),
        out_of_order=sum(r.out_of_order for r in results),
        slo_first_event_p95_s=slo.first_event_p95_s,
        slo_max_error_rate=slo.max_error_rate,
        passed=not failures,
        failures=failures,
    )
