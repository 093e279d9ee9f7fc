"""Declared parameters: what a strategy or feed accepts, checked before any run starts.

A declaration carries what a form needs (type, default, bounds, help), and `validate_params` turns a user's
mapping into a complete, typed dict or raises ParamError naming the field (``params.fast``).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from spark.errors import ParamError

__all__ = ["INT_LIMIT", "Param", "ParamType", "shown", "validate_params"]

ParamType = Literal["int", "float", "bool", "str"]
INT_LIMIT = 2**63  # integers must lie strictly within +-INT_LIMIT: what a 64-bit kernel and a seed can hold

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel = 3


def shown(value: Any) -> str:
    """``value`` for an error message: short, never raising (a 5,000-digit int has no repr), surrogates escaped."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT_LIMIT:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = _REPR.repr(value)
    except Exception:  # a hostile __repr__ or an int too long to print inside a container
        text = f"a {type(value).__name__}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _name(name: Any) -> str:
    """A declared or given name as it can appear in a message and a field: text, unencodable characters escaped."""
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One declared parameter. ``min``/``max`` are inclusive; ``choices`` restricts a str."""

    name: str
    type: ParamType
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "help": self.help,
        }
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    def coerce(self, value: Any, *, prefix: str = "params") -> Any:
        """Return ``value`` as this parameter's type, or raise ParamError naming ``prefix.name``.

        Strings are parsed (the CLI passes ``fast=10``); JSON numbers are accepted as they are, but a bool is
        never taken for a number and a float with a fraction is never taken for an int.
        """
        where = f"{prefix}.{_name(self.name)}"
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "1", "yes", "false", "0", "no"}:
                return value.lower() in {"true", "1", "yes"}
            raise ParamError(f"{where} must be true or false, got {shown(value)}", field=where)
        if self.type == "str":
            if not isinstance(value, str):
                raise ParamError(f"{where} must be a string, got {shown(value)}", field=where)
            if self.choices and value not in self.choices:
                raise ParamError(f"{where} must be one of {', '.join(self.choices)}; got {shown(value)}", field=where)
            return value
        number = _number(value, self.type, where)
        if self.min is not None and number < self.min:
            raise ParamError(f"{where} must be >= {self.min:g}, got {number:g}", field=where)
        if self.max is not None and number > self.max:
            raise ParamError(f"{where} must be <= {self.max:g}, got {number:g}", field=where)
        return number


def _number(value: Any, kind: str, where: str) -> int | float:
    """``value`` as an int or a float; anything else, a non-finite float or a number out of range is a ParamError."""
    if isinstance(value, bool):
        raise ParamError(f"{where} must be a number, got {value!r}", field=where)
    if isinstance(value, str):
        try:
            value = int(value) if kind == "int" else float(value)
        except ValueError:  # also a string of more digits than Python converts
            raise ParamError(
                f"{where} must be {'an integer' if kind == 'int' else 'a number'}, got {shown(value)}", field=where
            ) from None
    if not isinstance(value, (int, float)):
        raise ParamError(f"{where} must be a number, got {shown(value)}", field=where)
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"{where} must be finite, got {value!r}", field=where)
    if isinstance(value, int) and abs(value) >= INT_LIMIT:
        raise ParamError(f"{where} is out of range: {shown(value)} (the limit is +-2**63)", field=where)
    if kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise ParamError(f"{where} must be an integer, got {value!r}", field=where)
            if abs(value) >= INT_LIMIT:
                raise ParamError(f"{where} is out of range: {value:g} (the limit is +-2**63)", field=where)
            value = int(value)
        return value
    return float(value)


def validate_params(
    declared: tuple[Param, ...],
    given: Mapping[str, Any] | None,
    *,
    prefix: str = "params",
    check: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Complete and type ``given`` against ``declared``; unknown names are refused, not ignored.

    ``check`` runs after each value is valid on its own, for rules between values (fast < slow); it raises
    ParamError itself.
    """
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ParamError(f"{prefix} must be an object, got {shown(given)}", field=prefix)
    given = dict(given)
    known = {p.name: p for p in declared}
    for name in given:
        if name not in known:
            allowed = ", ".join(known) or "none"
            where = f"{prefix}.{_name(name)}"
            raise ParamError(f"unknown parameter {where} (allowed: {allowed})", field=where)
    out = {p.name: p.coerce(given[p.name], prefix=prefix) if p.name in given else p.default for p in declared}
    if check is not None:
        check(out)
    return out
