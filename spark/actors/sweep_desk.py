"""The system's side of sweeps: what `Services` offers for them, mixed into `spark.system.System`.

A start body is checked here, in a worker thread (`spark.actors.sweep_body.parse_sweep_body`: InputError naming the
field, audited as refused, nothing written); the sweeps actor (`spark.actors.sweeps`) decides, writes, audits and
answers. Reads come from the actor's board and, for details and results, the evidence folder (off the event
loop). The System provides ``_to_sweeps``, ``_sweep_board``, ``_plugins``, ``_settings``, ``_ask`` and ``audit``.
"""

from __future__ import annotations

from typing import Any

import trio

from spark.actors.messages import Reply
from spark.actors.sweep_body import parse_sweep_body
from spark.actors.sweeps import CancelSweep, StartSweep, SweepBoard
from spark.config import Settings
from spark.errors import NotFound, SparkError
from spark.plugin.manager import Plugins
from spark.plugin.services import Caller
from spark.research.evidence import check_sweep_id
from spark.research.reads import detail, results_page

__all__ = ["SweepDesk"]


class SweepDesk:
    _plugins: Plugins
    _settings: Settings
    _sweep_board: SweepBoard
    _to_sweeps: trio.MemorySendChannel | None

    async def _ask(self, channel: Any, message: Any, reply: Reply[Any]) -> Any: ...  # System's

    async def audit(self, **entry: Any) -> None: ...  # System's

    def sweeps(self, status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            s
            for s in self._sweep_board.summaries()
            if (status is None or s["status"] == status) and (kind is None or s["kind"] == kind)
        ]

    def _known_sweep(self, sweep_id: str) -> dict[str, Any]:
        check_sweep_id(sweep_id)
        summary = self._sweep_board.summary(sweep_id)
        if summary is None:
            raise NotFound(f"no sweep {sweep_id}", field="id")
        return summary

    async def sweep(self, sweep_id: str, points: int = 2000) -> dict[str, Any]:
        """``{sweep, doc, equity}`` (InputError for a bad id, NotFound)."""
        summary = self._known_sweep(sweep_id)
        return await trio.to_thread.run_sync(detail, self._settings.evidence_dir, summary, points)

    async def sweep_results(self, sweep_id: str, sort: str | None, limit: int, offset: int) -> dict[str, Any]:
        summary = self._known_sweep(sweep_id)
        page = await trio.to_thread.run_sync(results_page, self._settings.evidence_dir, sweep_id, sort, limit, offset)
        return {"id": sweep_id, "status": summary["status"], **page}

    async def start_sweep(self, body: Any, caller: Caller) -> dict[str, Any]:
        plugins, settings = self._plugins, self._settings
        try:
            draft = await trio.to_thread.run_sync(parse_sweep_body, body, plugins, settings)
        except SparkError as exc:  # audited as refused here; what the actor decides, it audits
            error = f"{exc.code}: {exc.message}"
            await self.audit(action="sweep.start", caller=caller, run_id=None, payload=body, success=False, error=error)
            raise
        with trio.CancelScope(shield=True):  # a start once asked ends decided, written and answered
            reply: Reply[dict[str, Any]] = Reply()
            return await self._ask(self._to_sweeps, StartSweep(draft=draft, caller=caller, reply=reply), reply)

    async def cancel_sweep(self, sweep_id: str, caller: Caller) -> dict[str, Any]:
        check_sweep_id(sweep_id)
        with trio.CancelScope(shield=True):
            reply: Reply[dict[str, Any]] = Reply()
            return await self._ask(self._to_sweeps, CancelSweep(sweep_id=sweep_id, caller=caller, reply=reply), reply)
