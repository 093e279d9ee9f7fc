"""The Python API (`run_backtest`) and the function a service worker process runs (`execute`).

Both resolve strategies and feeds through a plugin manager, validate before running, and hand the engine
validated inputs. No manager is kept between calls: `run_backtest` builds a fresh one unless given one (so a
plugin installed meanwhile is seen), and `execute` builds one from the `PluginSet` the service hands its worker
(the server's own scan, so the API and the workers agree on which plugins exist, without a rescan per run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spark.engine import BacktestResult, Candles, Gates, Options, StrategySpec, backtest, validate_params
from spark.errors import ParamError
from spark.ids import check_run_id, new_run_id
from spark.plugin.feeds import FeedEnv
from spark.plugin.manager import Plugins, PluginSet, build_plugins, installed_plugins
from spark.plugin.request import RunRequest

__all__ = ["PHASES", "execute", "run_backtest"]


def run_backtest(
    candles: Candles,
    strategy: str | StrategySpec = "sma_cross",
    params: Mapping[str, Any] | None = None,
    *,
    cash: float = 10_000,
    fee: float = 0.0,
    slippage_bps: float = 0.0,
    size: float | None = None,
    size_pct: float | None = None,
    fill: str = "next_open",
    periods_per_year: float | None = None,
    margin: bool = False,
    gates: Gates | Mapping[str, Any] | None = None,
    plugins: Plugins | None = None,
    run_id: str | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` (a registered name or alias, or a StrategySpec) on ``candles``.

    ``params`` are checked against the strategy's declared parameters (defaults fill the rest); ``size`` is units
    per order, ``size_pct`` a fraction (0, 1] of equity (neither: 1 unit). ``gates``: risk gates, a `spark.Gates`
    or its wire mapping (``{"maxOrderNotional": 1000, "longOnly": True}``). ``plugins`` defaults to every installed
    plugin (scanned once and kept while the import path's folders are unchanged: `installed_plugins`). Raises
    UnknownPlugin, ParamError (naming the field) or StrategyError; nothing is written anywhere.
    """
    if not isinstance(candles, Candles):
        raise ParamError(
            f"candles must be spark.Candles (see spark.load_candles), got {type(candles).__name__}", field="candles"
        )
    if isinstance(strategy, StrategySpec):
        spec = strategy
    else:
        spec = (plugins if plugins is not None else installed_plugins()).strategy(strategy)
    checked = validate_params(spec.params, params, check=spec.check)
    options = Options(
        cash=cash,
        fee=fee,
        slippage_bps=slippage_bps,
        size=size,
        size_pct=size_pct,
        fill=fill,
        periods_per_year=periods_per_year,
        margin=margin,
        gates=gates,  # type: ignore[arg-type]
    )  # type: ignore[arg-type]
    started_at = int(time.time() * 1000)
    run_id = new_run_id(started_at) if run_id is None else check_run_id(run_id)
    return backtest(candles, spec, checked, options, run_id=run_id, started_at=started_at)


def execute(
    request: RunRequest,
    *,
    data_dir: Path,
    plugin_set: PluginSet,
    run_id: str,
    started_at: int,
    progress: Callable[[float, str], None] | None = None,
    loaded: Callable[[Candles], None] | None = None,
) -> BacktestResult:
    """Run one queued request in a worker process and return its result.

    The feed reads with ``FeedEnv(data_dir, restricted=True)``: a file feed only opens named files inside
    ``data_dir``. Strategies and feeds come from exactly ``plugin_set`` (the server's scan; no rescan here).
    Picklable (module level, plain arguments). Raises the same errors as `run_backtest`, plus
    DataError from the feed; a strategy bug comes back as StrategyError naming the strategy. ``progress``, if
    given, is called with (fraction, phase) as phases end: "feed" (candles loaded), then the engine's phases
    (`PHASES`); ``loaded``, if given, with the candles as soon as the feed has read them (the service records their
    market even if the run fails later).
    """
    report = progress if progress is not None else _no_progress
    plugins = build_plugins(plugin_set)
    spec = plugins.strategy(request.strategy)
    feed = plugins.feed(request.feed_name)
    args = validate_params(feed.params, request.feed_args, prefix="feed.args")
    candles = feed.load(args, FeedEnv(data_dir=Path(data_dir), restricted=True))
    if loaded is not None:
        loaded(candles)
    report(PHASES["feed"], "feed")
    result = backtest(
        candles,
        spec,
        request.params,
        request.options,
        run_id=check_run_id(run_id),
        started_at=started_at,
        progress=lambda phase: report(PHASES[phase], phase),
    )
    return result


# Progress of a run when each phase ends (a rough share of a typical run's time); the worker writing the result
# files reports "evidence" once they are written.
PHASES = {"feed": 0.2, "strategy": 0.4, "simulated": 0.7, "stats": 0.85, "evidence": 0.95}


def _no_progress(fraction: float, phase: str) -> None:
    return None
