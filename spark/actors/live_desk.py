"""The system's side of live sessions: what `Services` offers for them, mixed into `spark.system.System`.

A start body is checked here (`parse_live_body`: InputError naming the field, before the actor is asked); the live
actor (`spark.actors.live`) decides, writes, audits and answers. Reads come from the actor's board. The System
provides ``_to_live``, ``_live_board``, ``_plugins``, ``_settings`` and ``_ask``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from spark.actors.live import LiveBoard, LiveDraft, StartLive, StopLive
from spark.actors.messages import Reply
from spark.config import Settings
from spark.engine.options import Options
from spark.errors import InputError, NotFound, SparkError
from spark.ids import check_session_id
from spark.market.paper import default_warmup
from spark.market.session import recorded_detail
from spark.market.sources import check_market
from spark.plugin.manager import Plugins
from spark.plugin.request import OPTION_FIELDS, RunRequest
from spark.plugin.services import Caller

__all__ = ["LIVE_FIELDS", "LiveDesk", "parse_live_body"]

LIVE_FIELDS = ("strategy", "params", "pair", "timeframe", "options", "exchange", "warmupBars", "reason")
MAX_REASON = 2000


def parse_live_body(body: Any, plugins: Plugins, settings: Settings) -> LiveDraft:
    """A start body ``{strategy, params, pair, timeframe, options, exchange?, warmupBars?, reason?}`` validated:
    the strategy and its params, the options (as for a backtest), the exchange, pair and timeframe (their form;
    whether the pair is listed is the feed's to say), the warm-up, the override reason."""
    if not isinstance(body, Mapping):
        raise InputError("the body must be a JSON object {strategy, params, pair, timeframe, options, exchange}")
    for key in body:
        if key not in LIVE_FIELDS:
            raise InputError(f"unknown field {str(key)[:40]!r} (allowed: {', '.join(LIVE_FIELDS)})", field=str(key))
    for name in ("pair", "timeframe"):
        if name not in body:
            raise InputError(f"{name} is required", field=name)
    exchange, pair, timeframe = check_market(
        body.get("exchange", settings.live_exchange), body["pair"], body["timeframe"]
    )
    request = RunRequest.parse(
        {k: body[k] for k in ("strategy", "params", "options", "pair", "timeframe") if k in body}, plugins
    )
    spec = plugins.strategy(request.strategy)
    warmup = body.get("warmupBars", settings.live_warmup_bars or default_warmup(spec, request.params))
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < settings.live_max_bars:
        raise InputError(f"warmupBars must be a whole number 0..{settings.live_max_bars - 1}", field="warmupBars")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON):
        raise InputError(f"reason must be text of 1..{MAX_REASON} characters", field="reason")
    return LiveDraft(
        exchange=exchange,
        pair=pair,
        timeframe=timeframe,
        strategy=request.strategy,
        params=dict(request.params),
        options=request.options,
        options_wire=request.options_json(),
        warmup_bars=warmup,
        reason=reason,
        payload=dict(body),
    )


class LiveDesk:
    _plugins: Plugins
    _settings: Settings
    _live_board: LiveBoard
    _to_live: trio.MemorySendChannel | None

    async def _ask(self, channel: Any, message: Any, reply: Reply[Any]) -> Any: ...  # System's

    def live_sessions(self) -> list[dict[str, Any]]:
        return self._live_board.summaries()

    async def live_session(self, session_id: str, points: int = 2000) -> dict[str, Any]:
        """A session with its recent candles, equity, trades and fills; NotFound when unknown."""
        check_session_id(session_id)
        session = self._live_board.live.get(session_id)
        if session is not None:
            return await trio.to_thread.run_sync(session.detail, points)
        doc = self._live_board.ended.get(session_id)
        if doc is None:
            raise NotFound(f"no live session {session_id}", field="id")
        try:
            spec = self._plugins.strategy(doc["strategy"])
            options = Options(**{OPTION_FIELDS[k]: v for k, v in doc["options"].items() if k in OPTION_FIELDS})
            return await trio.to_thread.run_sync(
                recorded_detail, doc, spec, options, self._settings.evidence_dir, points
            )
        except (SparkError, OSError, ValueError, KeyError):  # its strategy is gone, its record unreadable
            return {"session": doc, "candles": [], "equity": [], "trades": [], "fills": []}

    async def audit(self, **entry: Any) -> None: ...  # System's

    async def start_live(self, body: Any, caller: Caller) -> dict[str, Any]:
        try:
            draft = parse_live_body(body, self._plugins, self._settings)
        except InputError as exc:  # audited as refused here; what the actor decides, it audits
            error = f"{exc.code}: {exc.message}"
            await self.audit(action="live.start", caller=caller, run_id=None, payload=body, success=False, error=error)
            raise
        with trio.CancelScope(shield=True):  # a start once asked ends decided, written and answered
            reply: Reply[dict[str, Any]] = Reply()
            return await self._ask(self._to_live, StartLive(draft=draft, caller=caller, reply=reply), reply)

    async def stop_live(self, session_id: str, caller: Caller) -> dict[str, Any]:
        check_session_id(session_id)
        with trio.CancelScope(shield=True):
            reply: Reply[dict[str, Any]] = Reply()
            return await self._ask(self._to_live, StopLive(session_id=session_id, caller=caller, reply=reply), reply)
