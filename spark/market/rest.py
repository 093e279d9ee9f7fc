"""BTCTurk's public REST API, async (httpx over trio): exchange info, recent trades and paged klines history.

Each host has one `RateLimiter` at the published limits (Settings ``market_graph_*``, ``market_api_*``), shared by
every client in the process's trio run (`shared_limits`): the exchange counts per IP, so a feed's candle polling and
reconciliation, its warm-up and backfill `history`, and any other client of the same host draw on one budget. A 429
blocks that host for its ``Retry-After`` seconds (capped by ``market_retry_after_max_s``) and the call is retried;
a 5xx or a transport error is retried ``market_rest_retries`` times with jittered exponential backoff; a 4xx is
not retried. When the retries run out the call raises `Unavailable` (503: the exchange, not the caller, failed).
An unknown pair is an `InputError` naming ``pair``. Klines ``no_data`` is an empty range, never an error.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import trio
from trio.lowlevel import RunVar

from spark.config import Settings
from spark.errors import DataError, InputError, Unavailable
from spark.market.klines import RESOLUTIONS, Kline, check_timeframe, loads_exact, parse_decimal, parse_klines
from spark.market.ratelimit import RateLimiter

__all__ = ["BtcturkRest", "RestLimits", "Trade", "backoff_s", "shared_limits"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade: time in epoch ms, price and amount exact."""

    ts: int
    price: Decimal
    amount: Decimal
    tid: str = ""


@dataclass(frozen=True, slots=True)
class RestLimits:
    """The request budgets of BTCTurk's two hosts: the graph host (klines) and the REST host (exchange info,
    trades)."""

    graph: RateLimiter
    api: RateLimiter


_LIMITS: RunVar[dict[tuple[object, ...], RestLimits]] = RunVar("spark_btcturk_limits")


def shared_limits(settings: Settings) -> RestLimits:
    """The budgets of the hosts ``settings`` names, one per trio run (and per limit setting): every client made
    in this run with the same hosts and limits waits on the same windows and the same 429 blocks."""
    s = settings
    key = (s.btcturk_graph_url, s.market_graph_limit, s.market_graph_period_s,
           s.btcturk_rest_url, s.market_api_limit, s.market_api_period_s)  # fmt: skip
    try:
        known = _LIMITS.get()
    except LookupError:
        known = {}
        _LIMITS.set(known)
    if key not in known:
        graph = RateLimiter(s.market_graph_limit, s.market_graph_period_s)
        known[key] = RestLimits(graph=graph, api=RateLimiter(s.market_api_limit, s.market_api_period_s))
    return known[key]


def backoff_s(attempt: int, first_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Jittered exponential backoff: ``first_s * 2**attempt`` capped at ``cap_s``, then a random 50-100 % of it,
    never under ``first_s`` (attempt 0 waits exactly ``first_s``)."""
    base = min(cap_s, first_s * 2**attempt)
    jittered = base * (0.5 + 0.5 * (rng or random).random())
    return min(cap_s, max(first_s, jittered))


class BtcturkRest:
    """One client per task or command: ``async with BtcturkRest(settings) as rest:``; its requests wait on the
    run's `shared_limits`. The base URLs come from the Settings (tests point them at
    `spark.market.fake`). Made inside a trio run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = shared_limits(settings)
        self._http = httpx.AsyncClient(timeout=settings.market_rest_timeout_s)
        self._graph, self._api = self.limits.graph, self.limits.api
        self.requests = 0  # every HTTP request sent, retries included (statistics)

    async def __aenter__(self) -> BtcturkRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def symbols(self) -> set[str]:
        """The pair names the exchange lists (``BTCTRY``...)."""
        doc = await self._get_json(self._api, f"{self.settings.btcturk_rest_url}/api/v2/server/exchangeinfo", {})
        try:
            return {str(s["name"]) for s in doc["data"]["symbols"]}
        except (KeyError, TypeError):
            raise DataError("exchangeinfo: no data.symbols list in the answer") from None

    async def check_pair(self, pair: str) -> str:
        """``pair`` upper-cased and without ``_`` if the exchange lists it; InputError naming ``pair`` otherwise."""
        name = pair.replace("_", "").upper()
        if name not in await self.symbols():
            raise InputError(f"pair: BTCTurk lists no pair {pair[:32]!r}", field="pair")
        return name

    async def trades(self, pair: str, last: int = 50) -> list[Trade]:
        """The latest trades (at most 50), oldest first."""
        url = f"{self.settings.btcturk_rest_url}/api/v2/trades"
        doc = await self._get_json(self._api, url, {"pairSymbol": pair, "last": min(50, last)})
        rows = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise DataError("trades: no data list in the answer")
        out = []
        for row in rows:
            try:
                out.append(
                    Trade(
                        int(row["date"]),
                        parse_decimal(row["price"], "trade price"),
                        parse_decimal(row["amount"], "trade amount"),
                        str(row.get("tid", "")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                raise DataError(f"trades: malformed row {str(row)[:80]}") from None
        return sorted(out, key=lambda t: t.ts)

    async def klines(self, pair: str, timeframe: str, since_ms: int, until_ms: int) -> list[Kline]:
        """One klines request: candles with ``since_ms <= ts < until_ms`` (the endpoint's ``to`` is inclusive)."""
        resolution, step = RESOLUTIONS[check_timeframe(timeframe)]
        first_s = -(-since_ms // step) * step // 1000
        last_s = (until_ms - 1) // step * step // 1000
        if last_s < first_s:
            return []
        url = f"{self.settings.btcturk_graph_url}/v1/klines/history"
        params = {"symbol": pair, "resolution": resolution, "from": first_s, "to": last_s}
        found = parse_klines(await self._get_json(self._graph, url, params))
        return sorted((k for k in found if since_ms <= k.ts < until_ms), key=lambda k: k.ts)

    async def history(
        self,
        pair: str,
        timeframe: str,
        since_ms: int,
        until_ms: int,
        *,
        on_page: Callable[[int, int], None] | None = None,
    ) -> list[Kline]:
        """Every candle in ``[since_ms, until_ms)``, paged ``market_klines_page`` candles a request, oldest first,
        de-duplicated (a later page wins). ``on_page(done_ms, total_ms)`` after each page."""
        step = RESOLUTIONS[check_timeframe(timeframe)][1]
        page_ms = step * self.settings.market_klines_page
        found: dict[int, Kline] = {}
        start = since_ms
        while start < until_ms:
            end = min(until_ms, start + page_ms)
            for k in await self.klines(pair, timeframe, start, end):
                found[k.ts] = k
            if on_page is not None:
                on_page(end - since_ms, until_ms - since_ms)
            start = end
        return [found[ts] for ts in sorted(found)]

    async def _get_json(self, limiter: RateLimiter, url: str, params: dict[str, Any]) -> Any:
        s = self.settings
        failures = 0
        while True:
            await limiter.acquire()
            self.requests += 1
            try:
                response = await self._http.get(url, params=params)
            except httpx.TransportError as exc:
                failures = await self._retry_or_fail(failures, f"{_host(url)}: {type(exc).__name__}: {exc}")
                continue
            if response.status_code == 429:
                wait = _retry_after(response.headers.get("retry-after"), s.market_rest_backoff_s)
                if wait > s.market_retry_after_max_s or failures >= s.market_rest_retries:
                    raise Unavailable(f"{_host(url)} is rate limiting (429, Retry-After {wait:g} s)", retry_after=wait)
                log.warning("%s answered 429: waiting %.1f s (Retry-After)", _host(url), wait)
                limiter.block_for(wait)
                failures += 1
                continue
            if response.status_code >= 500:
                failures = await self._retry_or_fail(failures, f"{_host(url)} answered {response.status_code}")
                continue
            if response.status_code >= 400:
                raise _client_error(response, params)
            try:
                return loads_exact(response.content)
            except ValueError:
                raise DataError(f"{_host(url)}: the answer is not JSON: {response.text[:80]!r}") from None

    async def _retry_or_fail(self, failures: int, what: str) -> int:
        s = self.settings
        if failures >= s.market_rest_retries:
            raise Unavailable(f"{what} (after {failures + 1} attempts)", retry_after=int(s.market_rest_backoff_max_s))
        wait = backoff_s(failures, s.market_rest_backoff_s, s.market_rest_backoff_max_s)
        log.warning("%s: retrying in %.2f s", what, wait)
        await trio.sleep(wait)
        return failures + 1


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _retry_after(value: str | None, default_s: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default_s
    except ValueError:
        return default_s


def _client_error(response: httpx.Response, params: dict[str, Any]) -> InputError:
    try:
        message = str(loads_exact(response.content).get("message", ""))
    except (ValueError, AttributeError):
        message = response.text[:120]
    pair = params.get("pairSymbol") or params.get("symbol")
    if pair is not None and "pair" in message.lower():
        return InputError(f"pair: {message[:160]}", field="pair")
    return InputError(f"BTCTurk answered {response.status_code}: {message[:160]}")
