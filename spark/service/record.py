"""The run record: one frozen `RunRecord` per run, the only place a record changes case.

Python code (the scheduler, the store, the CLI) holds `RunRecord` values with snake_case names; `to_wire` and
`from_wire` are the one conversion to and from the camelCase wire shape of DESIGN.md, used by the list and detail
routes, SSE, the evidence file ``run_<id>.json`` and the OpenAPI schema (`wire_schema`, generated from the fields
here, so the document cannot drift from what is served).

Names chosen by others pass through unchanged: a strategy's parameters and a feed's arguments keep their own
spelling on both sides. Run options and stats are snake_case in Python and camelCase on the wire.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from spark.engine.result import camel
from spark.ids import is_run_id

__all__ = ["STATUSES", "TERMINAL", "FeedRef", "PluginsUsed", "RunRecord", "Status", "snake", "wire_schema"]

Status = Literal["queued", "running", "done", "failed"]
STATUSES: tuple[Status, ...] = get_args(Status)
TERMINAL: tuple[Status, ...] = ("done", "failed")


def snake(name: str) -> str:
    """``maxDrawdownPct`` -> ``max_drawdown_pct`` (the inverse of `spark.engine.result.camel`)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedRef:
    """The feed a run reads: its registered name and the arguments it was given (validated, defaults filled)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginsUsed:
    """The plugin generation a run ran with: its number (it grows on every reload that rescans plugins) and the
    names of the plugins loaded in it, in load order."""

    generation: int
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One run, as every surface shows it. Never changed in place: `replace` makes the next version.

    ``pair`` and ``timeframe`` are those of the candles actually run once they are loaded (a queued run shows the
    request's), ``bars`` their count (None until loaded). ``options`` are the run options by their Python names;
    ``stats`` the report's summary (snake_case), set when the run is done. The dict fields are owned by the record:
    nobody mutates them.
    """

    id: str
    status: Status
    pair: str
    timeframe: str
    bars: int | None = None
    notes: str = ""
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    feed: FeedRef
    options: dict[str, Any] = field(default_factory=dict)
    impl: str
    started_at: int
    finished_at: int | None = None
    progress: float = 0.0
    error: str | None = None
    stats: dict[str, Any] | None = None
    plugins: PluginsUsed | None = None

    def replace(self, **changes: Any) -> RunRecord:
        return dataclasses.replace(self, **changes)

    def market_changes(self, pair: str | None, timeframe: str | None, bars: int | None) -> dict[str, Any]:
        """The changes that put the loaded candles' market in place of the request's (empty: nothing changes)."""
        changes: dict[str, Any] = {}
        if pair and pair != self.pair:
            changes["pair"] = pair
        if timeframe and timeframe != self.timeframe:
            changes["timeframe"] = timeframe
        if bars is not None and bars != self.bars:
            changes["bars"] = bars
        return changes

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_wire(self) -> dict[str, Any]:
        """The camelCase document of DESIGN.md ("Run record"): JSON-ready, key order fixed."""
        return {
            "id": self.id,
            "status": self.status,
            "pair": self.pair,
            "timeframe": self.timeframe,
            "bars": self.bars,
            "notes": self.notes,
            "strategy": self.strategy,
            "params": dict(self.params),
            "feed": {"name": self.feed.name, "args": dict(self.feed.args)},
            "options": {camel(key): value for key, value in self.options.items()},
            "impl": self.impl,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "progress": self.progress,
            "error": self.error,
            "stats": None if self.stats is None else {camel(key): value for key, value in self.stats.items()},
            "plugins": None
            if self.plugins is None
            else {"generation": self.plugins.generation, "names": list(self.plugins.names)},
        }

    @classmethod
    def from_wire(cls, doc: Any) -> RunRecord:
        """Read a wire document back (an evidence file, possibly written by an older Spark: ``options`` and
        ``plugins`` may be missing). Raises ValueError saying what is wrong; never trusts a field's type."""
        if not isinstance(doc, Mapping):
            raise ValueError("a run record must be an object")
        run_id = doc.get("id")
        if not is_run_id(run_id):
            raise ValueError(f"id {run_id!r} is not a run id")
        status = doc.get("status")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        feed = doc.get("feed") or {}
        plugins = doc.get("plugins")
        return cls(
            id=run_id,
            status=status,
            pair=_text(doc, "pair"),
            timeframe=_text(doc, "timeframe"),
            bars=_int(doc, "bars", nullable=True),
            notes=_text(doc, "notes"),
            strategy=_text(doc, "strategy"),
            params=_object(doc, "params"),
            feed=FeedRef(name=_text(_mapping(feed, "feed"), "name"), args=_object(feed, "args")),
            options={snake(key): value for key, value in _object(doc, "options").items()},
            impl=_text(doc, "impl"),
            started_at=_int(doc, "startedAt"),
            finished_at=_int(doc, "finishedAt", nullable=True),
            progress=_progress(doc.get("progress")),
            error=_text(doc, "error", nullable=True),
            stats=None
            if doc.get("stats") is None
            else {snake(key): value for key, value in _object(doc, "stats").items()},
            plugins=None
            if plugins is None
            else PluginsUsed(
                generation=_int(_mapping(plugins, "plugins"), "generation"),
                names=tuple(str(name) for name in _list(plugins, "names")),
            ),
        )


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be an object")
    return value


def _text(doc: Mapping[str, Any], name: str, *, nullable: bool = False) -> Any:
    value = doc.get(name, None if nullable else "")
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _int(doc: Mapping[str, Any], name: str, *, nullable: bool = False) -> Any:
    value = doc.get(name)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def _object(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name) or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be an object")
    return dict(value)


def _list(doc: Mapping[str, Any], name: str) -> list[Any]:
    value = doc.get(name) or []
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list")
    return value


def _progress(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, float(value)))


# --- the OpenAPI schema, generated from the dataclasses ---------------------------------------------------------

_FREE_OBJECT = {"type": "object", "additionalProperties": True}
_DESCRIPTIONS = {
    "params": "the strategy's parameters, by the strategy's own names",
    "options": "run options (cash, fee, slippageBps, size, sizePct, fill, periodsPerYear, margin; gates when the run "
    "has risk gates)",
    "stats": "the report's summary statistics once done (maxDrawdownPct is a positive percent)",
    "pair": "the symbol of the candles run (the request's until they are loaded)",
    "timeframe": "the timeframe of the candles run (the request's until they are loaded)",
    "bars": "the number of candles run (null until they are loaded)",
    "progress": "0..1",
    "plugins": "the plugin generation the run ran with",
}


def wire_schema(cls: type = RunRecord) -> dict[str, Any]:
    """The JSON schema (OpenAPI 3.0 dialect) of ``cls.to_wire()``: one property per field, camelCase, typed from
    the annotations; every field is always present."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        schema = _schema(hints[f.name])
        if f.name in _DESCRIPTIONS and cls is RunRecord:
            schema = {**schema, "description": _DESCRIPTIONS[f.name]}
        properties[camel(f.name)] = schema
    return {"type": "object", "required": list(properties), "properties": properties}


def _schema(hint: Any) -> dict[str, Any]:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return {**_schema(rest[0]), "nullable": True}
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if hint is str:
        return {"type": "string"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is bool:
        return {"type": "boolean"}
    if origin is tuple or origin is list:
        return {"type": "array", "items": _schema(args[0])}
    if origin is dict or hint is dict:
        return dict(_FREE_OBJECT)
    if dataclasses.is_dataclass(hint):
        return wire_schema(hint)
    raise TypeError(f"no schema for {hint!r}")  # a new field type: teach this function about it
