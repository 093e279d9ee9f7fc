"""The data-feed contract: a declared spec whose ``load`` returns Candles."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark.engine.candles import Candles
from spark.engine.params import Param

__all__ = ["FeedEnv", "FeedSpec"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEnv:
    """Where a feed may read. With ``restricted`` (the API), a file feed reads only plain file names inside
    ``data_dir``, never a path the client chose; the CLI passes ``restricted=False``."""

    data_dir: Path
    restricted: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSpec:
    """What a plugin registers: ``load(args, env)`` returns validated Candles or raises DataError/ParamError.

    ``args`` are already checked against ``params``. ``check(args, env)``, if given, is the cheap part of loading
    (does the named file exist, is the name allowed) run when a request is accepted, so the API can answer 400 at
    once instead of queueing a run that must fail. ``stamp(args, env)``, if given, is a cheap token that changes
    whenever the data behind ``args`` may have (a file's size and mtime): the service re-reads a run's data for its
    chart only when the stamp moved, and then compares the data's hash with the run's.
    """

    name: str
    load: Callable[[Mapping[str, Any], FeedEnv], Candles]
    params: tuple[Param, ...] = ()
    help: str = ""
    check: Callable[[Mapping[str, Any], FeedEnv], None] | None = None
    stamp: Callable[[Mapping[str, Any], FeedEnv], str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "help": self.help, "params": [p.to_json() for p in self.params]}
