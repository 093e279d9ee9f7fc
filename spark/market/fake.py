"""A scripted fake BTCTurk on 127.0.0.1 (product code: the tests' exchange, and ``spark dev fake-exchange``).

WebSocket (trio-websocket over our own `trio.serve_tcp`, so a scenario can cut the TCP stream) and REST (quart-trio
on Hypercorn) speak the frames and answers of ``shared/btcturk.md``: 991 welcome, 151 subscribe acked by 100
``join|trade:<PAIR>``, one 421 batch of the last 50 trades, then a 422 per trade; a protocol ping every
``fake_ping_interval_s``; exchangeinfo, trades, ticker, orderbook, server time and klines history (seconds).

Each WebSocket connection plays one scenario, taken from `FakeExchange.script` (a queue: tests script a sequence
of connections) or ``default``:

    normal     the stream above
    stall      data stops ``fake_stall_after_s`` after the batch; the socket stays open, pings go on
    no_pong    closed with 1000 ``fake_no_pong_close_s`` after connecting (the exchange's unanswered-ping rule)
    abrupt     the TCP stream is cut ``fake_stall_after_s`` after the batch, no close frame
    duplicate  the subscribe is acked ``ok:false`` (as a second subscribe to the same channel is)
    garbage    a frame that is not JSON, one that is not ``[type, {...}]`` and an unknown type, between trades
    drop       one 422 in every three is not sent (the candles built then differ from the exchange's klines:
               the client's reconciliation corrects them)

A pair the exchange does not list (or in lower case) is acked ``ok:true`` and then silent, as the real one does.
REST faults are queued in `FakeExchange.rest_faults` (``"429"``, ``"503"``, ``"no_data"``), each answering one
request; ``orderbook_503`` makes the order book answer 503 always; `FakeMarket.gap` leaves a hole in the klines.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import trio
import trio_websocket
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

from spark.config import Settings
from spark.market.clock import MarketClock
from spark.market.fake_market import FAKE_PAIRS, FakeMarket, FakeTrade
from spark.market.klines import RESOLUTIONS

__all__ = ["SCENARIOS", "FakeExchange", "FakeUrls", "run_fake_exchange"]

log = logging.getLogger(__name__)

SCENARIOS = ("normal", "stall", "no_pong", "abrupt", "duplicate", "garbage", "drop")
REST_FAULTS = ("429", "503", "no_data")
_WELCOME = [991, {"type": 991, "current": "6.0.0", "min": "2.3.0"}]


@dataclass(frozen=True, slots=True)
class FakeUrls:
    rest: str  # serves /api/v2/... and /v1/klines/history: both the REST and the graph base URL
    ws: str

    def env(self) -> dict[str, str]:
        """The variables that point Spark at this exchange."""
        rest, ws = self.rest, self.ws
        return {"SPARK_BTCTURK_REST_URL": rest, "SPARK_BTCTURK_GRAPH_URL": rest, "SPARK_BTCTURK_WS_URL": ws}


@dataclass(slots=True)
class FakeExchange:
    """The exchange's state, shared by its servers; tests script it between and during connections."""

    settings: Settings
    clock: MarketClock = field(default_factory=MarketClock)
    default: str = "normal"
    script: deque[str] = field(default_factory=deque)
    rest_faults: deque[str] = field(default_factory=deque)
    orderbook_503: bool = False
    retry_after_s: int = 1
    market: FakeMarket = field(init=False)
    connections: int = 0  # WebSocket connections accepted so far
    connected_at: list[float] = field(default_factory=list)  # trio time of each, for the reconnect-budget tests
    requests: deque[str] = field(default_factory=lambda: deque(maxlen=10_000))  # REST paths asked, in order
    asked_at: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=10_000))  # (trio time, path)
    _listeners: list[trio.MemorySendChannel[FakeTrade]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.market = FakeMarket(self.clock.now_ms())
        for scenario in (self.default, *self.script):
            if scenario not in SCENARIOS:
                raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")

    def next_scenario(self) -> str:
        return self.script.popleft() if self.script else self.default

    async def trade_loop(self) -> None:
        """One trade per listed pair every ``fake_trade_interval_s``, sent to every subscribed connection."""
        while True:
            for pair in FAKE_PAIRS:
                made = self.market.trade(pair, self.clock.now_ms())
                for send in list(self._listeners):
                    # a connection that cannot keep up misses trades (as a conflating exchange does)
                    with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                        send.send_nowait(made)
            await trio.sleep(self.settings.fake_trade_interval_s)


async def run_fake_exchange(
    exchange: FakeExchange,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ws_port: int = 0,
    task_status: trio.TaskStatus[FakeUrls] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``exchange`` until cancelled; ``task_status.started`` gets its URLs (port 0: free ports)."""
    async with trio.open_nursery() as nursery:
        for pair in FAKE_PAIRS:  # a batch to send at once
            exchange.market.trade(pair, exchange.clock.now_ms())
        nursery.start_soon(exchange.trade_loop)
        config = Config()
        config.bind = [f"{host}:{port}"]
        config.accesslog = None
        config.errorlog = None
        # a shutdown trigger of our own: without one Hypercorn takes SIGINT/SIGTERM for itself and stops only the
        # REST half, leaving the WebSocket server and the trades running
        binds = await nursery.start(
            functools.partial(serve, _rest_app(exchange), config, shutdown_trigger=trio.sleep_forever)
        )
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, functools.partial(_ws_connection, exchange), ws_port, host=host)
        )
        ws_port_bound = listeners[0].socket.getsockname()[1]
        task_status.started(FakeUrls(rest=binds[0].replace("0.0.0.0", host), ws=f"ws://{host}:{ws_port_bound}"))


async def _ws_connection(exchange: FakeExchange, stream: trio.SocketStream) -> None:
    scenario = exchange.next_scenario()
    exchange.connections += 1
    exchange.connected_at.append(trio.current_time())
    try:
        async with trio.open_nursery() as nursery:
            req = await trio_websocket.wrap_server_stream(nursery, stream)
            ws = await req.accept()
            nursery.start_soon(_pinger, exchange, ws)
            if scenario == "no_pong":
                nursery.start_soon(_close_after, ws, exchange.settings.fake_no_pong_close_s)
            await _serve_session(exchange, ws, stream, scenario)
            nursery.cancel_scope.cancel()
    except* (trio_websocket.ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away: this connection is over
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _pinger(exchange: FakeExchange, ws: trio_websocket.WebSocketConnection) -> None:
    while True:
        await trio.sleep(exchange.settings.fake_ping_interval_s)
        await ws.ping()


async def _close_after(ws: trio_websocket.WebSocketConnection, seconds: float) -> None:
    await trio.sleep(seconds)
    # Shielded (bounded): the session ends as soon as the close starts, and cancelling the handshake half-way
    # would cut the TCP stream, which a client sees as 1006 instead of the exchange's 1000.
    with trio.CancelScope(shield=True), trio.move_on_after(2):
        await ws.aclose(1000, "no pong")


async def _serve_session(exchange: FakeExchange, ws: Any, stream: trio.SocketStream, scenario: str) -> None:
    await ws.send_message(json.dumps(_WELCOME))
    subscribed: set[str] = set()
    send, receive = trio.open_memory_channel[FakeTrade](1000)
    exchange._listeners.append(send)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stream_trades, exchange, ws, stream, scenario, subscribed, receive)
            while True:
                frame = _parse(await ws.get_message())
                if frame is None or frame[0] != 151:
                    continue  # the real one answers nothing to these
                model = frame[1]
                channel, event, join = model.get("channel"), model.get("event"), model.get("join", True)
                key = f"{channel}:{event}"
                if not join:
                    subscribed.discard(key)
                    await ws.send_message(json.dumps([100, {"type": 100, "ok": True, "message": f"leave|{key}"}]))
                    continue
                duplicate = key in subscribed or scenario == "duplicate"
                ack = {"type": 100, "ok": not duplicate, "message": f"join|{key}"}
                await ws.send_message(json.dumps([100, ack]))
                if duplicate or channel != "trade" or event not in FAKE_PAIRS:
                    continue  # an unknown or lower-case pair: acked, then silence
                subscribed.add(key)
                batch = [_row(t) for t in exchange.market.last_trades(event)]
                await ws.send_message(
                    json.dumps(
                        [421, {"symbol": event, "items": batch, "channel": "trade", "event": event, "type": 421}]
                    )
                )
    finally:
        exchange._listeners.remove(send)


async def _stream_trades(
    exchange: FakeExchange,
    ws: Any,
    stream: trio.SocketStream,
    scenario: str,
    subscribed: set[str],
    receive: trio.MemoryReceiveChannel[FakeTrade],
) -> None:
    deadline = trio.current_time() + exchange.settings.fake_stall_after_s
    sent = 0
    async for made in receive:
        if f"trade:{made.pair}" not in subscribed:
            continue
        if scenario in ("stall", "abrupt") and trio.current_time() >= deadline:
            if scenario == "abrupt":
                await stream.aclose()  # no close frame: the client sees the TCP stream end
                return
            await trio.sleep_forever()  # silent, socket open, pings go on
        sent += 1
        if scenario == "drop" and sent % 3 == 0:
            continue
        if scenario == "garbage" and sent % 2 == 0:
            for junk in ("not json", '{"type": 422}', "[422]", '[999, {"type": 999}]', "[422, {}]"):
                await ws.send_message(junk)
        row = _row(made)
        row.update({"PS": made.pair, "channel": "trade", "event": made.pair, "type": 422})
        await ws.send_message(json.dumps([422, row]))


def _row(t: FakeTrade) -> dict[str, Any]:
    return {"D": str(t.ts), "I": t.tid, "A": f"{t.amount:.10f}", "P": f"{t.price:.10f}", "S": t.side}


def _parse(message: str | bytes) -> list | None:
    try:
        frame = json.loads(message)
    except ValueError:
        return None
    if isinstance(frame, list) and len(frame) == 2 and isinstance(frame[1], dict):
        return frame
    return None


def _rest_app(exchange: FakeExchange) -> QuartTrio:
    app = QuartTrio("spark-fake-btcturk")

    def error(status: int, message: str, code: Any) -> Response:
        body = {"success": False, "message": message, "code": code}
        return Response(json.dumps(body), status=status, content_type="application/json")

    @app.before_request
    async def faults() -> Response | None:
        exchange.requests.append(request.path)
        exchange.asked_at.append((trio.current_time(), request.path))
        fault = exchange.rest_faults[0] if exchange.rest_faults else None
        if fault == "429":
            exchange.rest_faults.popleft()
            body = {
                "message": "TOO_MANY_REQUESTS",
                "success": False,
                "code": 429,
                "details": "Quota exceeded. Maximum allowed: 120 per 1m.",
                "limit": "120",
                "period": "1m",
                "policy": "ip",
            }
            headers = {"Retry-After": str(exchange.retry_after_s)}
            return Response(json.dumps(body), status=429, headers=headers, content_type="application/json")
        if fault == "503":
            exchange.rest_faults.popleft()
            return error(503, "SERVICE_UNAVAILABLE", 503)
        return None

    def ok(data: Any) -> Response:
        return Response(json.dumps(data), content_type="application/json")

    def pair_arg(name: str) -> str | None:
        raw = request.args.get(name, "")
        pair = raw.replace("_", "").upper()
        return pair if pair in FAKE_PAIRS else None

    @app.get("/api/v2/server/exchangeinfo")
    async def exchangeinfo() -> Response:
        symbols = [
            {
                "id": i,
                "name": pair,
                "nameNormalized": f"{pair[:3]}_{pair[3:]}",
                "status": "TRADING",
                "numerator": pair[:3],
                "denominator": pair[3:],
                "numeratorScale": 8,
                "denominatorScale": places,
            }
            for i, (pair, (_, places)) in enumerate(FAKE_PAIRS.items(), start=1)
        ]
        return ok({"data": {"timeZone": "UTC", "serverTime": exchange.clock.now_ms(), "symbols": symbols}})

    @app.get("/api/v2/server/time")
    async def server_time() -> Response:
        return ok({"serverTime": exchange.clock.now_ms()})

    @app.get("/api/v2/trades")
    async def trades() -> Response:
        pair = pair_arg("pairSymbol")
        if pair is None:
            return error(400, f"Pair {request.args.get('pairSymbol', '')[:32]} does not exists.", 1037)
        last = min(50, int(request.args.get("last", "50") or 50))
        rows = [
            {
                "pair": pair,
                "date": t.ts,
                "tid": t.tid,
                "price": str(t.price),
                "amount": str(t.amount),
                "side": "buy" if t.side == 0 else "sell",
            }
            for t in exchange.market.last_trades(pair, last)
        ]
        return ok({"success": True, "message": None, "code": 0, "data": rows})

    @app.get("/api/v2/orderbook")
    async def orderbook() -> Response:
        if exchange.orderbook_503:
            return Response("", status=503)
        return ok({"success": True, "message": None, "code": 0, "data": {"timestamp": 0, "bids": [], "asks": []}})

    @app.get("/v1/klines/history")
    async def klines() -> Response:
        if exchange.rest_faults and exchange.rest_faults[0] == "no_data":
            exchange.rest_faults.popleft()
            return ok({"s": "no_data"})
        pair = pair_arg("symbol")
        steps = {resolution: step for resolution, step in RESOLUTIONS.values()}
        step = steps.get(request.args.get("resolution", ""))
        try:
            from_s, to_s = int(request.args["from"]), int(request.args["to"])
        except (KeyError, ValueError):
            return error(400, "from and to are required (seconds)", "INVALID_REQUEST_ERROR")
        if pair is None or step is None:
            return ok({"s": "error", "errmsg": "unknown symbol or resolution"})
        rows = exchange.market.klines(pair, step, from_s * 1000, to_s * 1000, until_ms=exchange.clock.now_ms())
        if not rows:
            return ok({"s": "no_data"})
        return Response(_udf_json(rows), content_type="application/json")

    return app


def _udf_json(rows: Iterable[tuple]) -> str:
    """``{"s":"ok","t":[...],"o":[...],...}`` with the decimals written as JSON numbers, digit for digit."""
    t, o, h, lo, c, v = zip(*rows, strict=True)
    parts = [f'"t":[{",".join(str(ts // 1000) for ts in t)}]']
    for key, values in (("o", o), ("h", h), ("l", lo), ("c", c), ("v", v)):
        parts.append(f'"{key}":[{",".join(format(x, "f") for x in values)}]')
    return '{"s":"ok",' + ",".join(parts) + "}"
