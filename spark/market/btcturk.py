"""`BtcturkCandleSource`: closed candles of one BTCTurk pair from its live trade stream (the `CandleSource`
contract of `spark.market.source`), kept going through the exchange's known failure modes.

The socket (trio-websocket, which answers the server's pings): expect the 991 welcome, subscribe 151 to the
``trade`` channel, check the 100 ack (``ok:false`` or another ``join|...``: reconnect), then the 421 batch seeds the
forming candle and 422s stream. Candles are built from trades by trade time (`CandleBuilder`) and sent once their
interval has passed (plus ``feed_close_grace_ms`` for late trades), each once, in time order.

What can go wrong, and what happens:
- no data frame for ``feed_stale_s`` while subscribed (the socket open: BTCTurk's silent stall; pings are not
  data): state ``stale``, reconnect.
- no 421 within ``feed_first_data_s`` of the ack, on a pair never seen streaming: BTCTurk acks an unknown or
  lower-case pair ``ok:true`` and stays silent; the feed fails for good (``failed``, saying so).
- a close (1000 when pings went unanswered, or abrupt), a refused subscribe, a connect that fails or times out:
  reconnect with jittered exponential backoff (``feed_backoff_s`` doubling to ``feed_backoff_max_s``), never more
  than ``feed_connects_per_window`` attempts a ``feed_connect_window_s`` (the exchange allows 15 a minute).
- a frame that is not JSON, not ``[type, {...}]`` or a trade without usable fields: counted, skipped.
While the socket is down (state ``rest_fallback``), and for every candle the socket did not watch whole (the one
in progress when a subscription began, those of a gap), the candle comes from REST klines, polled every
``feed_poll_s`` for at most one interval; one that REST cannot give either is sent flat at the previous close with
``filled=True``. A candle built from trades is checked against klines one interval later: a mismatch is logged and
counted (spark_feed_reconcile_mismatches_total), the exchange's candle is sent as a correction
(``FeedEvent(correction=...)``: the consumer puts it in place of the one it had, `spark.market.session`), and it is
what `history` answers from then on.

Every REST call of the feed (candle polling, reconciliation, `history` for warm-up and backfill, the pair check)
waits on one request budget per host (`spark.market.rest.shared_limits`), so together they keep to the published
limits (the graph host's 600 per 10 minutes).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
import trio_websocket

from spark.config import Settings
from spark.errors import InputError, ParamError, SparkError
from spark.market.candles import CandleBuilder, as_live, flat_candle
from spark.market.clock import MarketClock
from spark.market.frames import ACK, TRADE, TRADES, WELCOME, BadFrame, parse_frame, subscribe_frame, trade_of
from spark.market.klines import Kline, check_timeframe, interval_ms
from spark.market.rest import BtcturkRest, backoff_s
from spark.market.source import FeedEvent, FeedState, LiveCandle
from spark.metrics import Metrics

if TYPE_CHECKING:
    from spark.market.sources import OpenedSource

__all__ = ["BtcturkCandleSource", "FeedFailed", "open_btcturk", "open_btcturk_source"]

log = logging.getLogger(__name__)
EXCHANGE = "btcturk"


class FeedFailed(Exception):
    """The feed cannot go on (an unknown pair): the reason goes out with the ``failed`` state."""


class _Reconnect(Exception):
    """This connection is done (stale, closed, refused): make a new one."""


async def open_btcturk_source(
    settings: Settings, pair: str, timeframe: str, *, metrics: Metrics | None = None
) -> BtcturkCandleSource:
    """A source for ``pair`` (as exchangeinfo lists it; ``BTC_TRY`` and lower case accepted) and ``timeframe``;
    InputError/ParamError naming the field for an unknown pair or an unsupported timeframe, before any socket."""
    check_timeframe(timeframe)
    async with BtcturkRest(settings) as rest:
        name = await rest.check_pair(pair)
    return BtcturkCandleSource(settings, name, timeframe, metrics=metrics)


async def open_btcturk(
    settings: Settings,
    pair: str,
    timeframe: str,
    state: Mapping[str, Any] | None,
    file: Path | None,
    *,
    metrics: Metrics | None = None,
) -> OpenedSource:
    """The opener `spark.market.sources` registers as ``btcturk``: the pair and timeframe checked against the
    exchange (InputError naming ``pair``/``timeframe``), the wall clock as the market's, no state to keep (a resumed
    session catches up through `BtcturkCandleSource.history`)."""
    from spark.market.sources import OpenedSource  # sources registers this opener: imported here, not at the top

    if file is not None:
        raise InputError("a file is for the replay exchange; btcturk reads the exchange", field="file")
    try:
        source = await open_btcturk_source(settings, pair, timeframe, metrics=metrics)
    except ParamError as exc:
        raise InputError(exc.message, field="timeframe") from None
    return OpenedSource(source=source, now_ms=source.clock.now_ms, state={})


class BtcturkCandleSource:
    exchange = EXCHANGE

    def __init__(
        self,
        settings: Settings,
        pair: str,
        timeframe: str,
        *,
        metrics: Metrics | None = None,
        clock: MarketClock | None = None,
    ) -> None:
        self.settings = settings
        self.pair = pair
        self.timeframe = timeframe
        self.step = interval_ms(timeframe)
        self.clock = clock if clock is not None else MarketClock()
        self.metrics = metrics
        self.connections = 0
        self.reconnects = 0
        self.bad_frames = 0
        self.mismatches = 0
        self.corrected: dict[int, Kline] = {}  # the exchange's version of candles that did not reconcile
        self._builder = CandleBuilder(self.step)
        self._covered_since: int | None = None  # market time the current subscription's data began; None: down
        self._streamed = False  # this pair has streamed data at least once (then silence is staleness)
        self._last_data = trio.current_time()
        self._last_data_wall = time.monotonic()
        self._last_close: Decimal | None = None
        self._attempts: deque[float] = deque()
        self._rest: BtcturkRest | None = None
        self._send: trio.MemorySendChannel[FeedEvent] | None = None
        self._to_check: list[Kline] = []
        self._state: FeedState | None = None
        if metrics is not None:
            metrics.feed_connected.labels(exchange=EXCHANGE, pair=pair).set(0)
            metrics.feed_reconnects.labels(exchange=EXCHANGE, pair=pair)
            metrics.feed_reconcile_mismatches.labels(exchange=EXCHANGE, pair=pair)
            age = metrics.feed_last_data_age.labels(exchange=EXCHANGE, pair=pair)
            age.set_function(lambda: time.monotonic() - self._last_data_wall if self._send else 0.0)

    # -- the contract -------------------------------------------------------------------------------------------

    async def history(self, since_ms: int, until_ms: int) -> list[LiveCandle]:
        """Closed candles from REST klines (the exchange's, corrections included), oldest first."""
        until = min(until_ms, self.clock.now_ms() // self.step * self.step)
        if until <= since_ms:
            return []
        async with BtcturkRest(self.settings) as rest:
            found = await rest.history(self.pair, self.timeframe, since_ms, until)
        return [as_live(self.corrected.get(k.ts, k)) for k in found]

    async def run(self, send: trio.MemorySendChannel[FeedEvent]) -> None:
        self._send = send
        self._last_data = trio.current_time()
        self._last_data_wall = time.monotonic()
        try:
            async with BtcturkRest(self.settings) as rest, trio.open_nursery() as nursery:
                self._rest = rest
                nursery.start_soon(self._close_candles)
                nursery.start_soon(self._reconcile)
                try:
                    await self._connect_forever()
                except FeedFailed as exc:
                    log.error("btcturk %s feed failed: %s", self.pair, exc)
                    await self._set_state(FeedState.FAILED, str(exc))
                nursery.cancel_scope.cancel()
        finally:
            self._connected(False)
            self._send = None

    # -- the socket ---------------------------------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        s = self.settings
        failures = 0
        while True:
            await self._within_connect_budget()
            await self._set_state(FeedState.CONNECTING if not self.connections else FeedState.RECONNECTING)
            self.connections += 1
            why = await self._one_connection()
            if self._covered_since is not None:
                failures = 0  # this connection streamed: the next one starts the backoff again
            self._covered_since = None
            self._connected(False)
            self.reconnects += 1
            if self.metrics is not None:
                self.metrics.feed_reconnects.labels(exchange=EXCHANGE, pair=self.pair).inc()
            wait = backoff_s(failures, s.feed_backoff_s, s.feed_backoff_max_s)
            failures += 1
            log.warning("btcturk %s: %s; reconnecting in %.1f s (REST meanwhile)", self.pair, why, wait)
            await self._set_state(FeedState.REST_FALLBACK, why)
            await trio.sleep(wait)

    async def _within_connect_budget(self) -> None:
        s = self.settings
        now = trio.current_time()
        while self._attempts and self._attempts[0] <= now - s.feed_connect_window_s:
            self._attempts.popleft()
        if len(self._attempts) >= s.feed_connects_per_window:  # 5 % over the window: the exchange counts on
            await trio.sleep_until(self._attempts[0] + s.feed_connect_window_s * 1.05)  # its own clock, later
        self._attempts.append(trio.current_time())

    async def _one_connection(self) -> str:
        """Connect, subscribe, stream until something ends it; why it ended. Raises FeedFailed (unknown pair).

        Every outcome is caught inside the socket's nursery and re-raised outside it, so it is never wrapped in
        an exception group."""
        s = self.settings
        outcome: BaseException | str = "the connection ended"
        async with trio.open_nursery() as sockets:
            try:
                with trio.fail_after(s.feed_connect_timeout_s):
                    ws = await trio_websocket.connect_websocket_url(sockets, s.btcturk_ws_url)
            except (trio_websocket.HandshakeError, OSError, trio.TooSlowError) as exc:
                outcome = f"cannot connect: {type(exc).__name__}: {exc}"
            else:
                try:
                    await self._stream(ws)
                except (_Reconnect, FeedFailed) as exc:
                    outcome = exc
                except trio_websocket.ConnectionClosed as exc:
                    outcome = f"closed by the exchange ({exc.reason.code} {exc.reason.name})"
                except trio.TooSlowError:
                    outcome = "no welcome or ack in time"
                finally:
                    with trio.move_on_after(1.0, shield=True):
                        await ws.aclose()
            sockets.cancel_scope.cancel()
        if isinstance(outcome, FeedFailed):
            raise outcome
        return str(outcome)

    async def _stream(self, ws: trio_websocket.WebSocketConnection) -> None:
        s = self.settings
        with trio.fail_after(s.feed_connect_timeout_s):
            await self._frame(ws, expect=WELCOME)
            await ws.send_message(subscribe_frame(self.pair))
            ack = await self._frame(ws, expect=ACK)
        if not ack.get("ok") or ack.get("message") != f"join|trade:{self.pair}":
            raise _Reconnect(f"subscribe refused: {str(ack)[:120]}")
        acked = trio.current_time()
        while True:
            streaming = self._covered_since is not None
            limit = s.feed_stale_s if streaming else s.feed_first_data_s
            with trio.move_on_at((self._last_data if streaming else acked) + limit) as waited:
                message = await ws.get_message()
            if waited.cancelled_caught:
                if not streaming and not self._streamed:
                    raise FeedFailed(
                        f"no data for {self.pair} {s.feed_first_data_s:g} s after BTCTurk acked the subscription: it"
                        " acks an unknown or lower-case pair and then stays silent; check the pair name"
                    )
                await self._set_state(FeedState.STALE, f"no data frame for {limit:g} s")
                raise _Reconnect(f"stale: no data frame for {limit:g} s with the socket open")
            if self._on_message(message):
                await self._set_state(FeedState.CONNECTED)

    async def _frame(self, ws: trio_websocket.WebSocketConnection, *, expect: int) -> dict:
        while True:
            try:
                kind, model = self._count(parse_frame(await ws.get_message()))
            except BadFrame as exc:
                self._bad(exc)
                continue
            if kind == expect:
                return model

    def _count(self, frame: tuple[int, dict]) -> tuple[int, dict]:
        if self.metrics is not None:
            self.metrics.feed_frames.labels(exchange=EXCHANGE, type=str(frame[0])).inc()
        return frame

    def _bad(self, why: BadFrame) -> None:
        self.bad_frames += 1
        log.debug("btcturk %s: bad frame skipped: %s", self.pair, why)
        if self.metrics is not None:
            self.metrics.feed_bad_frames.labels(exchange=EXCHANGE).inc()

    def _on_message(self, message: str | bytes) -> bool:
        """Take one frame's trades; True when it is this subscription's first data."""
        try:
            kind, model = self._count(parse_frame(message))
            if kind == TRADES and model.get("event") == self.pair:
                trades = [trade_of(row) for row in model.get("items") or []]
            elif kind == TRADE and model.get("PS", model.get("event")) == self.pair:
                trades = [trade_of(model)]
            else:
                return False  # an ack, another channel's model, an unknown type: not data
        except BadFrame as exc:
            self._bad(exc)
            return False
        self._last_data = trio.current_time()
        self._last_data_wall = time.monotonic()
        for trade in sorted(trades, key=lambda t: t.ts):
            self._builder.add(trade)
        if self._covered_since is None:
            self._covered_since = self.clock.now_ms()
            self._streamed = True
            self._connected(True)
            return True
        return False

    # -- candles ------------------------------------------------------------------------------------------------

    async def _close_candles(self) -> None:
        """Send each candle once its interval (and the close grace) has passed on the market clock."""
        s = self.settings
        next_ts = self.clock.now_ms() // self.step * self.step
        while True:
            await self.clock.sleep_until(next_ts + self.step + s.feed_close_grace_ms)
            covered = self._covered_since is not None and self._covered_since <= next_ts
            built = self._builder.take(next_ts)
            candle, filled = (built, False) if covered and built is not None else await self._from_rest(next_ts, built)
            if candle is not None:
                self._last_close = candle.close
                assert self._send is not None
                await self._send.send(FeedEvent(candle=as_live(candle, filled=filled)))
                if built is candle:  # built from trades: checked against the exchange one interval later (after
                    self._to_check.append(candle)  # it was sent: a correction never overtakes its candle)
            next_ts += self.step

    async def _from_rest(self, ts: int, built: Kline | None) -> tuple[Kline | None, bool]:
        """The exchange's candle for ``ts``, polled for at most one interval; else the partial one built from
        trades, else flat at the previous close (filled), else nothing (no close to be flat at yet)."""
        give_up = trio.current_time() + self.clock.seconds_until(ts + 2 * self.step)
        while True:
            found = await self._klines(ts, ts + self.step)
            if found:
                return found[0], False
            if trio.current_time() + self.settings.feed_poll_s > give_up or self._covered_since is not None:
                break  # streaming again: a candle REST lacks had no trades we could have missed
            await trio.sleep(self.settings.feed_poll_s)
        if built is not None:
            return built, False
        if self._last_close is not None:
            return flat_candle(ts, self._last_close), True
        return None, False

    async def _klines(self, since: int, until: int) -> list[Kline]:
        assert self._rest is not None
        try:
            return await self._rest.klines(self.pair, self.timeframe, since, until)
        except SparkError as exc:
            log.warning("btcturk %s: klines %d..%d: %s", self.pair, since, until, exc.message)
            return []

    async def _reconcile(self) -> None:
        """One interval after a candle built from trades closed, compare it with the exchange's klines; a mismatch
        is counted, kept for `history`, and sent as a correction."""
        while True:
            await trio.sleep(self.settings.feed_poll_s)
            due = [k for k in self._to_check if self.clock.now_ms() >= k.ts + 2 * self.step]
            if not due:
                continue
            self._to_check = [k for k in self._to_check if k not in due]
            exchange = {k.ts: k for k in await self._klines(due[0].ts, due[-1].ts + self.step)}
            for ours in due:
                theirs = exchange.get(ours.ts)
                if theirs is None or theirs == ours:
                    continue
                self.mismatches += 1
                self.corrected[ours.ts] = theirs
                log.warning("btcturk %s: candle %d differs from the exchange's: ours %s, theirs %s",
                            self.pair, ours.ts, ours, theirs)  # fmt: skip
                if self.metrics is not None:
                    self.metrics.feed_reconcile_mismatches.labels(exchange=EXCHANGE, pair=self.pair).inc()
                assert self._send is not None
                await self._send.send(FeedEvent(correction=as_live(theirs)))

    # -- state ----------------------------------------------------------------------------------------------------

    def _connected(self, up: bool) -> None:
        if self.metrics is not None:
            self.metrics.feed_connected.labels(exchange=EXCHANGE, pair=self.pair).set(1 if up else 0)

    async def _set_state(self, state: FeedState, detail: str = "") -> None:
        if state != self._state and self._send is not None:
            self._state = state
            await self._send.send(FeedEvent(state=state, detail=detail))
