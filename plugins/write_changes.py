"""The ``write`` plugin's change-request routes (issue 12): submit, edit, approve, reject, withdraw.

Roles as DESIGN.md's mutation table sets them: operator to submit or edit (the requester only edits), approver to
approve or reject, the requester or an admin to withdraw. The registry decides and audits each transition
(``change.<action>``); what the HTTP layer refuses itself (no token, a role below, the rate limit, a body that is
not JSON) is audited here. Rate bucket: mutations (60 a minute per address).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from spark.api.ratelimit import RateLimiter
from spark.api.wire import json_response
from spark.errors import InputError
from spark.plugin.services import Services

from .guard import Guard

__all__ = ["changes_blueprint"]

_DECISIONS = {
    "approve": ("approver", "approving a change"),
    "reject": ("approver", "rejecting a change"),
    "withdraw": ("operator", "withdrawing a change"),
}


def changes_blueprint(services: Services, guard: Guard, mutations: RateLimiter) -> Blueprint:
    bp = Blueprint("write_changes", __name__)

    async def body_of(action: str, role: str, what: str, target: str | None) -> tuple[Any, Any]:
        """The caller and the decoded body, or the audited refusal."""
        limit = services.settings.mutation_rate_limit_per_minute
        return await guard.admit_body(f"change.{action}", role, what, mutations, limit, target)

    @bp.post("/api/changes")
    async def submit() -> Response:
        caller, payload = await body_of("submit", "operator", "submitting a change", None)
        try:
            answer = await services.submit_change(payload, caller)
        except InputError as exc:  # the body does not hold: audited as refused, like any other
            await guard.refuse("change.submit", caller, None, payload, exc)
            raise
        return json_response(answer, 201)

    @bp.patch("/api/changes/<change_id>")
    async def edit(change_id: str) -> Response:
        caller, payload = await body_of("edit", "operator", "editing a change", change_id[:40])
        try:
            answer = await services.edit_change(change_id, payload, caller)
        except InputError as exc:
            await guard.refuse("change.edit", caller, change_id[:40], payload, exc)
            raise
        return json_response(answer)

    @bp.post("/api/changes/<change_id>/approve")
    async def approve(change_id: str) -> Response:
        return await decide(change_id, "approve")

    @bp.post("/api/changes/<change_id>/reject")
    async def reject(change_id: str) -> Response:
        return await decide(change_id, "reject")

    @bp.post("/api/changes/<change_id>/withdraw")
    async def withdraw(change_id: str) -> Response:
        return await decide(change_id, "withdraw")

    async def decide(change_id: str, action: str) -> Response:
        role, what = _DECISIONS[action]
        caller, payload = await body_of(action, role, what, change_id[:40])
        body = payload if isinstance(payload, dict) else {}
        reason, params_sha = body.get("reason"), body.get("paramsSha")
        try:
            if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
                raise InputError("reason must be text of at most 2000 characters", field="reason")
            if action == "approve" and not isinstance(params_sha, str):
                raise InputError("paramsSha is required: the params hash you reviewed", field="paramsSha")
            if not isinstance(payload, dict | None) or set(body) - {"reason", "paramsSha"}:
                raise InputError("the body is {reason, paramsSha (approve)}", field=None)
        except InputError as exc:
            await guard.refuse(f"change.{action}", caller, change_id[:40], payload, exc)
            raise
        return json_response(await services.decide_change(change_id, action, caller, params_sha, reason))

    return bp
