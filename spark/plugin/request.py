"""A start request: the body of ``POST /api/backtest/start`` (and the CLI's flags), validated into one frozen,
picklable value before anything is queued. Every field is optional; unknown fields are refused, never ignored.

Text that cannot be stored is refused here too, wherever it sits (values and keys, at any depth): a lone UTF-16
surrogate (JSON ``"\\ud800"``) decodes to a Python str that UTF-8 cannot encode, and would otherwise only fail
when the run record is written, after the start was accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spark.engine.gates import Gates
from spark.engine.options import Options
from spark.engine.params import shown, validate_params
from spark.errors import InputError, ParamError
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins

__all__ = ["OPTION_FIELDS", "RunRequest", "refuse_unencodable", "settings_gates", "unencodable_field"]

_FIELDS = ("pair", "timeframe", "notes", "strategy", "params", "feed", "options")
# wire name (camelCase) -> Options field
OPTION_FIELDS = {
    "cash": "cash",
    "fee": "fee",
    "slippageBps": "slippage_bps",
    "size": "size",
    "sizePct": "size_pct",
    "fill": "fill",
    "periodsPerYear": "periods_per_year",
    "margin": "margin",
}
_PAIR = re.compile(r"^[A-Za-z0-9._/-]{1,32}$")
_TIMEFRAME = re.compile(r"^[1-9][0-9]{0,3}[smhdwMy]$")
MAX_NOTES = 1000
DEFAULT_BARS = 10_000
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escaped(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unencodable_field(doc: Any) -> tuple[str, str] | None:
    """A string or key inside ``doc`` that UTF-8 cannot encode, as (path, character), both escaped
    (``("feed.args.\\ud800", "\\ud800")``); None when every string encodes. The path is ``""`` for ``doc`` itself.
    Walks with its own stack, so no depth is too deep."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                return path, _escaped(found.group())
        elif isinstance(value, Mapping):
            for key, item in value.items():
                name = _escaped(str(key))
                where = f"{path}.{name}" if path else name
                found = _SURROGATE.search(key) if isinstance(key, str) else None
                if found:
                    return where, _escaped(found.group())
                stack.append((item, where))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(value))))
    return None


def refuse_unencodable(doc: Any, what: str = "the body") -> None:
    """Raise InputError (400) naming the field when ``doc`` holds text that cannot be stored (`unencodable_field`)."""
    found = unencodable_field(doc)
    if found is None:
        return
    path, char = found
    raise InputError(
        f"{path or what} holds {char}, a lone UTF-16 surrogate: it cannot be encoded as UTF-8, so it cannot be stored",
        field=path or None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    pair: str = "ETHUSDT"
    timeframe: str = "4h"
    notes: str = ""
    strategy: str = "sma_cross"
    params: dict[str, Any] = field(default_factory=dict)
    feed_name: str = "synthetic"
    feed_args: dict[str, Any] = field(default_factory=dict)
    options: Options = field(default_factory=Options)

    @classmethod
    def parse(cls, body: Any, plugins: Plugins, env: FeedEnv | None = None, *, default_gates: str = "") -> RunRequest:
        """Validate a decoded JSON body against the registered strategies and feeds.

        Raises InputError (400) naming the field: unknown fields (``id``, ``status`` included), wrong types,
        unknown strategy or feed, parameters out of their declared bounds, bad options (``options.gates.x``). With
        ``env``, the feed's own ``check`` runs too (the API: a csv file must exist inside the data directory).
        ``default_gates`` (the ``risk_gates`` setting, JSON text) are the run's gates when ``options`` gives no
        ``gates`` (an empty ``gates`` object is a run without gates).
        """
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise InputError("the body must be a JSON object")
        refuse_unencodable(body)
        for key in body:
            if key not in _FIELDS:
                raise InputError(f"unknown field {key!r} (allowed: {', '.join(_FIELDS)})", field=str(key))
        pair = _text(body, "pair", "ETHUSDT", _PAIR, "letters, digits and ._/- (at most 32)")
        timeframe = _text(body, "timeframe", "4h", _TIMEFRAME, "a number and a unit, like 1m, 4h, 1d")
        notes = body.get("notes", "")
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise InputError(f"notes must be a string of at most {MAX_NOTES} characters", field="notes")
        strategy_name = body.get("strategy", "sma_cross")
        if not isinstance(strategy_name, str):
            raise InputError("strategy must be a string", field="strategy")
        spec = plugins.strategy(strategy_name)
        raw_params = body.get("params", {})
        if not isinstance(raw_params, Mapping):
            raise ParamError("params must be an object", field="params")
        params = validate_params(spec.params, raw_params, check=spec.check)
        feed_name, feed_args = _feed(body.get("feed"), pair, timeframe, plugins, env)
        options = _options(body.get("options", {}), default_gates)
        return cls(
            pair=pair,
            timeframe=timeframe,
            notes=notes,
            strategy=spec.name,
            params=params,
            feed_name=feed_name,
            feed_args=feed_args,
            options=options,
        )

    def feed_json(self) -> dict[str, Any]:
        return {"name": self.feed_name, "args": dict(self.feed_args)}

    def options_json(self) -> dict[str, Any]:
        out = {wire: getattr(self.options, name) for wire, name in OPTION_FIELDS.items()}
        if self.options.gates is not None:
            out["gates"] = self.options.gates.to_json()
        return out


def settings_gates(text: str) -> Gates | None:
    """The ``risk_gates`` setting (JSON text, "" for none) as Gates; ParamError naming the setting when it is not
    valid gates (the service checks it at start-up and on reload, so a run never meets this)."""
    if not text:
        return None
    try:
        return Gates.from_wire(json.loads(text), where="risk_gates")
    except ValueError as exc:  # ParamError is a ValueError too
        message = getattr(exc, "message", str(exc))
        raise ParamError(f"setting risk_gates: {message}", field="risk_gates") from None


def _text(body: Mapping, name: str, default: str, pattern: re.Pattern, what: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not pattern.match(value):
        raise InputError(f"{name} must be {what}, got {shown(value)}", field=name)
    return value


def _feed(raw: Any, pair: str, timeframe: str, plugins: Plugins, env: FeedEnv | None) -> tuple[str, dict[str, Any]]:
    if raw is None:
        raw = {"name": "synthetic", "args": {"symbol": pair, "timeframe": timeframe, "bars": DEFAULT_BARS}}
    if not isinstance(raw, Mapping):
        raise InputError("feed must be an object {name, args}", field="feed")
    for key in raw:
        if key not in ("name", "args"):
            raise InputError(f"unknown field feed.{key} (allowed: name, args)", field=f"feed.{key}")
    name = raw.get("name", "synthetic")
    if not isinstance(name, str):
        raise InputError("feed.name must be a string", field="feed.name")
    spec = plugins.feed(name)
    args = raw.get("args", {})
    if not isinstance(args, Mapping):
        raise InputError("feed.args must be an object", field="feed.args")
    if name == "synthetic":
        args = {"symbol": pair, "timeframe": timeframe, **args}
    checked = validate_params(spec.params, args, prefix="feed.args")
    if env is not None and spec.check is not None:
        spec.check(checked, env)
    return spec.name, checked


def _options(raw: Any, default_gates: str = "") -> Options:
    if not isinstance(raw, Mapping):
        raise InputError("options must be an object", field="options")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "gates":
            values["gates"] = Gates.from_wire(value, where="options.gates")
            continue
        if key not in OPTION_FIELDS:
            raise InputError(
                f"unknown field options.{key} (allowed: {', '.join(OPTION_FIELDS)}, gates)", field=f"options.{key}"
            )
        values[OPTION_FIELDS[key]] = value
    if "gates" not in values and default_gates:
        values["gates"] = settings_gates(default_gates)
    try:
        return Options(**values)
    except ParamError as exc:
        wire = {v: k for k, v in OPTION_FIELDS.items()}.get(exc.field or "", exc.field)
        raise ParamError(exc.message, field=f"options.{wire}") from None
    except TypeError as exc:
        raise InputError(f"options: {exc}", field="options") from None
