"""One live session (paper trading) driven forward: warm-up from the source's history, then a step of the paper book
per closed candle, every change recorded (`spark.market.session_store`) and then published. Used by the service's
live actor (`spark.actors.live`) and by ``spark live`` in a terminal alike.

`LiveSession.run` goes:

1. **Warm-up** (a new session): the last ``warmupBars`` closed candles from ``history``, evaluated in one step.
   **Resume** (after a restart): the recorded candles evaluated in one step (the fills a crash kept from the record
   are appended), then **catch-up**: ``history`` from the last recorded candle to the market's clock now.
2. **Live**: ``source.run`` sends closed candles and feed states. A candle after a gap first backfills the gap from
   ``history``; a duplicate is skipped. Each step runs in a worker thread (the engine never runs on the event loop),
   its candles then its fills are appended (fsync) before anything is published. A **correction** (the exchange's
   version of a candle sent before, from its reconciliation one interval later) goes to the book
   (`PaperBook.correct`): it takes the candle's place in the series and in ``candles.csv`` when that changes no fill
   already made, so every later decision sees the exchange's candle; when it would change one (a decision taken on
   our candle cannot be undone) the session keeps its candle. Either way it is recorded in ``corrections.jsonl``,
   counted in the summary's ``corrections`` ``{applied, kept}`` and published. So a backtest over ``candles.csv``
   reproduces the session's fills and trades exactly, corrections included, and ``corrections.jsonl`` names every
   candle where that series is still ours rather than the exchange's.
3. **End**: the feed closing ends the session ``stopped``; a feed that fails for good, a strategy that raises or
   looks ahead, or evidence that cannot be written ends it ``failed`` with the reason; ``live_max_bars`` reached
   ends it ``stopped``. Cancelled from outside (a stop, a shutdown), it writes nothing: whoever cancelled decides
   (a stop records ``stopped``; a shutdown leaves it ``running`` so it resumes).

``publish`` gets each change as one dict (the SSE ``event: live`` data): ``{session, candles, fills, trades,
equity}`` where ``session`` is the summary (`summary`); a correction's also has ``correction`` (its record).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from spark.engine.options import Options
from spark.engine.strategy import StrategySpec
from spark.errors import SparkError
from spark.market import session_store as files
from spark.market.paper import Correction, PaperBook, SeriesFull, Step
from spark.market.replay import interval_ms
from spark.market.source import FeedEvent, FeedState, LiveCandle
from spark.market.sources import OpenedSource
from spark.metrics import Metrics
from spark.plugin.request import OPTION_FIELDS

__all__ = [
    "FEED_BUFFER",
    "LiveSession",
    "Publish",
    "book_detail",
    "candle_wire",
    "options_of",
    "public",
    "recorded_detail",
]

log = logging.getLogger(__name__)

FEED_BUFFER = 16  # closed candles come a few a minute at most; a short burst (a backfill) waits here
Publish = Callable[[dict[str, Any]], Awaitable[None]]


def candle_wire(c: LiveCandle) -> list[Any]:
    return [c.ts, c.open, c.high, c.low, c.close, c.volume, c.filled]


def options_of(wire: dict[str, Any]) -> Options:
    """Run options from their wire form in a session document (``gates`` included: risk gates apply live too)."""
    values = {OPTION_FIELDS[k]: v for k, v in wire.items() if k in OPTION_FIELDS}
    return Options(**values, gates=wire.get("gates"))


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A session document as the API shows it: without the feed's reopening state (it names server paths)."""
    return {k: v for k, v in doc.items() if k != "source"}


def book_detail(book: PaperBook, summary: dict[str, Any], points: int) -> dict[str, Any]:
    """``{session, candles, equity, trades, fills}``: the last ``points`` candles, equity values and fills, and every
    trade, from what the book made of its series."""
    result = book.result
    if result is None:
        return {"session": summary, "candles": [], "equity": [], "trades": [], "fills": []}
    report = result.report
    n = len(report.equity)
    return {
        "session": summary,
        "candles": [candle_wire(c) for c in book.rows[-points:]],
        "equity": [[int(report.timestamp[i]), float(report.equity[i])] for i in range(max(0, n - points), n)],
        "trades": [t.to_json() for t in report.trades],
        "fills": [f.to_json() for f in report.fills[-points:]],
    }


def recorded_detail(
    doc: dict[str, Any], spec: StrategySpec, options: Options, evidence_dir: Path, points: int
) -> dict[str, Any]:
    """`book_detail` of a session that is not running here, from its recorded candles (blocking: a thread)."""
    rows = files.read_candles(evidence_dir, doc["id"])
    book = PaperBook(spec, doc["params"], options, symbol=doc["pair"], timeframe=doc["timeframe"],
                     max_bars=len(rows) + 1, session_id=doc["id"])  # fmt: skip
    last = book.step(rows)
    summary = {
        **public(doc),
        "bars": len(rows),
        "lastCandle": candle_wire(rows[-1]) if rows else None,
        "equity": last.equity[-1][1] if last and last.equity else None,
        "position": last.position if last else 0.0,
        "stats": last.stats if last else None,
        "corrections": correction_counts(files.read_corrections(evidence_dir, doc["id"])),
    }
    return book_detail(book, summary, points)


def correction_counts(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """``{applied, kept}``: the exchange's corrections the series took, and those it could not."""
    applied = sum(1 for r in records if r.get("applied"))
    return {"applied": applied, "kept": len(records) - applied}


def correction_record(c: Correction, at_ms: int) -> dict[str, Any]:
    """A line of ``corrections.jsonl`` (and the ``correction`` of its event)."""
    return {
        "ts": c.exchange.ts, "at": at_ms, "ours": candle_wire(c.ours)[1:6], "exchange": candle_wire(c.exchange)[1:6],
        "applied": c.applied, "reason": c.reason,
    }  # fmt: skip


class LiveSession:
    """A session's document (``doc``, what ``session.json`` holds), its book and its feed."""

    def __init__(
        self,
        doc: dict[str, Any],
        *,
        spec: StrategySpec,
        options: Options,
        opened: OpenedSource,
        evidence_dir: Path | None,
        publish: Publish,
        max_bars: int,
        limiter: trio.CapacityLimiter | None = None,
        now_ms: Callable[[], int],
        metrics: Metrics | None = None,
    ) -> None:
        self.doc = doc
        self.id: str = doc["id"]
        self.opened, self.source = opened, opened.source
        self.evidence_dir, self.publish, self.limiter = evidence_dir, publish, limiter
        self.now_ms = now_ms  # wall clock, for the recorded times
        self.metrics = metrics
        self.interval = interval_ms(doc["timeframe"])
        self.book = PaperBook(
            spec, doc["params"], options, symbol=doc["pair"], timeframe=doc["timeframe"], max_bars=max_bars,
            session_id=self.id,
        )  # fmt: skip
        self.last: Step | None = None
        self.corrections = {"applied": 0, "kept": 0}
        self.ended = trio.Event()

    # --- what the API shows ---------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The document with what the book knows now: bars, the last candle, equity, position, stats."""
        last = self.last
        return {
            **public(self.doc),
            "bars": len(self.book),
            "lastCandle": candle_wire(self.book.rows[-1]) if self.book.rows else None,
            "equity": last.equity[-1][1] if last and last.equity else None,
            "position": last.position if last else 0.0,
            "stats": last.stats if last else None,
            "corrections": dict(self.corrections),
        }

    def detail(self, points: int = 2000) -> dict[str, Any]:
        """The summary with the last ``points`` candles and equity values, every trade and the last fills
        (blocking on a large series: call it in a thread)."""
        return book_detail(self.book, self.summary(), points)

    # --- running ------------------------------------------------------------------------------------------------

    async def run(self, *, resume: bool) -> None:
        """Warm up (or resume and catch up), then follow the feed until it ends (module docstring)."""
        try:
            if resume:
                await self._guarded(self._resume())
            else:
                await self._guarded(self._warm_up())
            if not self.ended.is_set():
                await self._follow()
        finally:
            self.ended.set()

    async def _guarded(self, work: Awaitable[None]) -> bool:
        """Await ``work``; a reason to end the session ends it (True). Cancellation passes through."""
        try:
            await work
        except SeriesFull as exc:
            await self._end("stopped", exc.message)
        except (OSError, ValueError, SparkError) as exc:
            message = exc.message if isinstance(exc, SparkError) else f"{type(exc).__name__}: {exc}"
            log.warning("live session %s failed: %s", self.id, message)
            await self._end("failed", message)
        else:
            return False
        return True

    async def _warm_up(self) -> None:
        warmup = int(self.doc["warmupBars"])
        now = self.opened.now_ms()
        rows: Sequence[LiveCandle] = []
        if warmup:
            rows = list(await self.source.history(now - 2 * (warmup + 1) * self.interval, now))[-warmup:]
        await self._step(rows, publish=True)

    async def _resume(self) -> None:
        step = None
        if self.evidence_dir is not None:
            recorded = await trio.to_thread.run_sync(files.read_candles, self.evidence_dir, self.id)
            step = await self._evaluate(recorded)  # recorded already: evaluated, not appended again
            fixes = await trio.to_thread.run_sync(files.read_corrections, self.evidence_dir, self.id)
            self.corrections = correction_counts(fixes)
        if step is not None and self.book.result is not None and self.evidence_dir is not None:
            derived = [f.to_json() for f in self.book.result.report.fills]
            kept = await trio.to_thread.run_sync(files.read_fills, self.evidence_dir, self.id)
            missing = files.missing_fills(kept, derived)
            if missing:  # the crash came between a step's candles and its fills
                await trio.to_thread.run_sync(files.append_fills, self.evidence_dir, self.id, missing)
            self.last = step
        now = self.opened.now_ms()
        since = self.book.last_ts + 1 if self.book.last_ts is not None else now - self.interval
        caught = await self.source.history(since, now)
        if caught:
            await self._step(caught, publish=True)
        elif step is not None:
            await self._publish(step)

    async def _follow(self) -> None:
        send, receive = trio.open_memory_channel[FeedEvent](FEED_BUFFER)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._feed, send)
            async with receive:
                async for event in receive:
                    if event.candle is not None:
                        if await self._guarded(self._candle(event.candle)):
                            break
                    elif event.correction is not None:
                        if await self._guarded(self._correct(event.correction)):
                            break
                    elif event.state is not None:
                        if await self._guarded(self._feed_state(event.state, event.detail)):
                            break
                        if event.state in (FeedState.CLOSED, FeedState.FAILED):
                            status = "stopped" if event.state is FeedState.CLOSED else "failed"
                            await self._end(status, event.detail or f"the feed {event.state.value}")
                            break
                else:
                    await self._end("stopped", "the feed ended")
            nursery.cancel_scope.cancel()

    async def _feed(self, send: trio.MemorySendChannel[FeedEvent]) -> None:
        async with send:
            await self.source.run(send)

    async def _candle(self, candle: LiveCandle) -> None:
        last = self.book.last_ts
        rows: list[LiveCandle] = [candle]
        if last is not None and candle.ts > last + self.interval:  # a gap: backfill what history has
            rows = [*(await self.source.history(last + 1, candle.ts)), candle]
        await self._step(rows, publish=True)

    async def _correct(self, candle: LiveCandle) -> None:
        """The exchange's version of a candle of the series: applied or kept (module docstring), recorded,
        published. A candle the series does not hold, or holds already as the exchange has it, changes nothing."""
        fixed = await trio.to_thread.run_sync(self.book.correct, candle, limiter=self.limiter)
        if fixed is None:
            return
        record = correction_record(fixed, self.now_ms())
        if self.evidence_dir is not None:
            with trio.CancelScope(shield=True):  # the series on disk is the book's before the record says so
                if fixed.applied:
                    await trio.to_thread.run_sync(files.replace_candles, self.evidence_dir, self.id, [candle])
                await trio.to_thread.run_sync(files.append_correction, self.evidence_dir, self.id, record)
        outcome = "applied" if fixed.applied else "kept"
        self.corrections[outcome] += 1
        if self.metrics is not None:
            self.metrics.live_corrections.labels(outcome=outcome).inc()
        if fixed.applied and self.last is not None and self.last.equity:
            marked = (*self.last.equity[:-1], (self.last.equity[-1][0], fixed.equity))
            self.last = dataclasses.replace(self.last, equity=marked, stats=fixed.stats)
        what = "took the exchange's correction" if fixed.applied else f"kept its own candle: {fixed.reason}"
        log.info("live session %s: candle %d %s", self.id, candle.ts, what)
        await self.publish(
            {"session": self.summary(), "candles": [], "fills": [], "trades": [], "equity": [], "correction": record}
        )

    async def _feed_state(self, state: FeedState, detail: str) -> None:
        self.doc = {**self.doc, "feed": {"state": state.value, "detail": detail, "at": self.now_ms()}}
        await self._write_doc()
        await self.publish({"session": self.summary(), "candles": [], "fills": [], "trades": [], "equity": []})

    async def _evaluate(self, rows: Sequence[LiveCandle]) -> Step | None:
        return await trio.to_thread.run_sync(self.book.step, list(rows), limiter=self.limiter)

    async def _step(self, rows: Sequence[LiveCandle], *, publish: bool) -> None:
        step = await self._evaluate(rows)
        if step is None:
            return
        if self.evidence_dir is not None:
            with trio.CancelScope(shield=True):  # a step is recorded whole: a stop or shutdown waits for it
                await trio.to_thread.run_sync(files.append_candles, self.evidence_dir, self.id, step.candles)
                await trio.to_thread.run_sync(files.append_fills, self.evidence_dir, self.id, step.fills)
        self.last = step
        if publish:
            await self._publish(step)

    async def _publish(self, step: Step) -> None:
        await self.publish(
            {
                "session": self.summary(),
                "candles": [candle_wire(c) for c in step.candles[-500:]],
                "fills": list(step.fills),
                "trades": list(step.trades),
                "equity": [list(e) for e in step.equity[-500:]],
            }
        )

    async def _end(self, status: str, reason: str | None) -> None:
        self.ended.set()
        with trio.CancelScope(shield=True):
            await self.finish(status, reason)

    async def finish(self, status: str, reason: str | None) -> None:
        """Record the session's end (``stopped`` or ``failed`` with ``reason``) and publish it."""
        self.doc = {**self.doc, "status": status, "stoppedAt": self.now_ms(), "error": reason}
        try:
            await self._write_doc()
        except OSError as exc:
            log.error("live session %s: cannot record its end (%s)", self.id, exc)
        await self.publish({"session": self.summary(), "candles": [], "fills": [], "trades": [], "equity": []})

    async def _write_doc(self) -> None:
        if self.evidence_dir is not None:
            await trio.to_thread.run_sync(functools.partial(files.write_doc, self.evidence_dir, dict(self.doc)))
