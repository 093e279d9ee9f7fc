"""The system's side of change requests: what `Services` offers for them, mixed into `spark.system.System`.

A submit or an edit is checked first (`spark.service.drafts`, in a worker thread) and its promotion gates evaluated
(`spark.service.gates`; the lookahead check in a worker process), then the registry actor decides, writes, audits
and answers (`spark.actors.registry`). Reads come from the registry's store. The System provides ``_to_registry``,
``_changes`` (the ChangeStore), ``store``, ``_plugins``, ``_settings`` and ``_ask``.
"""

from __future__ import annotations

import functools
import secrets
from typing import Any

import trio
import trio_parallel

from spark.actors.messages import Reply
from spark.actors.registry import ChangeDecision, ChangeDraft
from spark.config import Settings
from spark.errors import InputError, NotFound
from spark.ids import wall_ms
from spark.plugin.manager import Plugins
from spark.plugin.services import Caller
from spark.service.changestore import CHANGE_ID, ChangeStore, change_doc
from spark.service.drafts import Checked, check_body
from spark.service.gates import Thresholds, evaluate
from spark.service.lookahead import check_run
from spark.service.store import RunStore

__all__ = ["LOOKAHEAD_TIMEOUT_S", "ChangeDesk"]

LOOKAHEAD_TIMEOUT_S = 120.0


class ChangeDesk:
    store: RunStore
    _plugins: Plugins
    _settings: Settings
    _changes: ChangeStore
    _to_registry: trio.MemorySendChannel | None

    async def _ask(self, channel: Any, message: Any, reply: Reply[Any]) -> Any: ...  # System's

    def change_requests(self, state: str | None = None) -> list[dict[str, Any]]:
        return [change_doc(r, self._changes) for r in self._changes.listing(state)]

    def change_request(self, change_id: str) -> dict[str, Any] | None:
        request = self._changes.requests.get(change_id)
        return None if request is None else change_doc(request, self._changes)

    def param_sets(self) -> list[dict[str, Any]]:
        return [s.to_wire() for s in self._changes.sets]

    async def submit_change(self, body: Any, caller: Caller) -> dict[str, Any]:
        change_id = f"cr-{wall_ms()}-{secrets.token_hex(4)}"
        draft = await self._draft(body, change_id)
        return await self._decide(ChangeDecision(action="submit", caller=caller, reply=Reply(), draft=draft))

    async def edit_change(self, change_id: str, body: Any, caller: Caller) -> dict[str, Any]:
        current = self._known(change_id)
        draft = await self._draft(
            {k: v for k, v in {**self._editable(current), **(body if isinstance(body, dict) else {})}.items()},
            change_id,
        )
        return await self._decide(
            ChangeDecision(action="edit", caller=caller, reply=Reply(), change_id=change_id, draft=draft)
        )

    async def decide_change(
        self, change_id: str, action: str, caller: Caller, params_sha: str | None, reason: str | None
    ) -> dict[str, Any]:
        self._known(change_id)
        decision = ChangeDecision(
            action=action, caller=caller, reply=Reply(), change_id=change_id, params_sha=params_sha, reason=reason
        )
        return await self._decide(decision)

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _known(self, change_id: str) -> Any:
        if not CHANGE_ID.match(change_id):
            raise InputError(
                f"not a change request id: {change_id[:40]!r} (expected cr-<13 digits>-<8 hex>)", field="id"
            )
        request = self._changes.requests.get(change_id)
        if request is None:
            raise NotFound(f"no change request {change_id}", field="id")
        return request

    @staticmethod
    def _editable(request: Any) -> dict[str, Any]:
        """An edit changes what it names and keeps the rest (a PATCH)."""
        ev = request.evidence
        return {
            "strategy": request.strategy,
            "pair": request.pair,
            "timeframe": request.timeframe,
            "params": request.params,
            "rationale": request.rationale,
            "evidence": {"runs": list(ev.runs), "sweep": ev.sweep, "walkForward": ev.walk_forward},
        }

    async def _draft(self, body: Any, change_id: str) -> ChangeDraft:
        plugins, settings = self._plugins, self._settings
        checked: Checked = await trio.to_thread.run_sync(
            functools.partial(
                check_body,
                body,
                change_id=change_id,
                plugins=plugins,
                run_record=self.store.get,
                evidence_dir=settings.evidence_dir,
            )
        )
        first = checked.runs[0]
        lookahead: tuple[bool, str] = (False, "the lookahead check did not finish in time")
        with trio.move_on_after(LOOKAHEAD_TIMEOUT_S):
            lookahead = await trio_parallel.run_sync(
                check_run,
                plugins.plugin_set,
                checked.request.strategy,
                dict(checked.request.params),
                first.feed.name,
                dict(first.feed.args),
                str(settings.data_dir),
                kill_on_cancel=True,
            )
        gates = evaluate(
            Thresholds.from_settings(settings),
            runs=checked.runs,
            walk_forward=checked.walk_forward,
            param_count=checked.param_count,
            lookahead=lookahead,
        )
        return ChangeDraft(request=checked.request.replace(gates=gates), payload=body)

    async def _decide(self, decision: ChangeDecision) -> dict[str, Any]:
        with trio.CancelScope(shield=True):
            answer = await self._ask(self._to_registry, decision, decision.reply)
        request = self._changes.requests.get(answer["id"]) if isinstance(answer, dict) and "id" in answer else None
        return answer if request is None else change_doc(request, self._changes)
