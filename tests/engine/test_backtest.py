"""The entry points: collect, backtest, the result's wire shape, ids, determinism, bad inputs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from spark.engine import Options, Order, backtest, collect
from spark.errors import ParamError, StrategyError

from .helpers import RUN, SMA_CROSS, bars, load_csv, spec

GOOG = load_csv("GOOG.csv", timeframe="1d")
OPTS = Options(cash=10_000, fee=0.001, size=1)


def test_two_runs_are_identical_byte_for_byte() -> None:
    a = backtest(GOOG, SMA_CROSS, {"fast": 10, "slow": 30}, OPTS, run_id="bt-0000000000001-00000000", started_at=1)
    b = backtest(GOOG, SMA_CROSS, {"fast": 10, "slow": 30}, OPTS, run_id="bt-0000000000001-00000000", started_at=1)
    assert a.to_json() == b.to_json()
    assert a.metadata["fingerprint"] == b.metadata["fingerprint"]
    assert a.metadata["orders_hash"] == b.metadata["orders_hash"]
    c = backtest(GOOG, SMA_CROSS, {"fast": 10, "slow": 31}, OPTS, **RUN)
    assert c.metadata["fingerprint"] != a.metadata["fingerprint"]
    assert c.metadata["orders_hash"] != a.metadata["orders_hash"]


def test_id_and_wire_shape() -> None:
    result = backtest(GOOG, SMA_CROSS, {"fast": 10, "slow": 30}, OPTS, **RUN)
    assert re.fullmatch(r"bt-[0-9]{13}-[0-9a-f]{8}", result.id)
    wire = json.loads(result.to_json())
    assert set(wire) == {"schemaVersion", "id", "report", "metadata"} and wire["schemaVersion"] == 2
    assert wire["report"]["stats"]["totalTrades"] == 33
    assert wire["report"]["stats"] == result.summary()
    assert "maxDrawdownPct" in wire["report"]["stats"]
    assert set(wire["report"]) == {"stats", "trades", "fills", "rejected"}  # schema 2: no per-bar arrays
    assert len(result.report.equity) == len(GOOG) == len(result.report.drawdown_pct)
    meta = wire["metadata"]
    assert meta["candleCount"] == len(GOOG)
    assert meta["options"]["slippageBps"] == 0.0
    assert meta["strategy"] == {"name": "test_sma_cross", "version": "1"}
    assert meta["params"] == {"fast": 10, "slow": 30}
    assert "periods/year" in meta["semantics"]["annualisation"]


def test_strategy_exceptions_name_the_strategy() -> None:
    def boom(params, ctx):
        raise RuntimeError("kaput")

    with pytest.raises(StrategyError, match="'boom'.*RuntimeError: kaput") as info:
        collect(GOOG, spec(boom, "boom"), {})
    assert info.value.status == 422 and info.value.code == "strategy_failed"


def test_wrong_array_lengths_fail_the_strategy() -> None:
    def short(params, ctx):
        ctx.signals(np.zeros(3, bool), np.zeros(3, bool))

    with pytest.raises(StrategyError, match="one value per bar"):
        backtest(GOOG, spec(short), {}, OPTS, **RUN)


def test_mixed_intents_are_refused() -> None:
    def mixed(params, ctx):
        n = len(ctx.candles)
        ctx.signals(np.zeros(n, bool), np.zeros(n, bool))
        ctx.emit(Order(side="buy", bar=0))

    with pytest.raises(StrategyError, match="one kind of intent"):
        backtest(GOOG, spec(mixed), {}, OPTS, **RUN)


def test_emit_with_an_unknown_timestamp_names_the_order() -> None:
    c = bars([(10, 11, 9, 10)] * 4)

    def fn(params, ctx):
        ctx.emit(Order(side="buy", bar=0))
        ctx.emit(Order(side="sell", ts=int(ctx.candles.timestamp[2]) + 1))

    with pytest.raises(ParamError, match="order 1: ts .* matches no bar") as info:
        backtest(c, spec(fn), {}, OPTS, **RUN)
    assert info.value.field == "orders[1]"


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (Order(side="buy"), "bar index or the bar timestamp"),
        (Order(side="buy", bar=9), "bar must be an index"),
        (Order(side="hold", bar=0), "side must be"),  # type: ignore[arg-type]
        (Order(side="buy", bar=0, type="limit"), "needs a price"),
        (Order(side="buy", bar=0, price=5.0), "market order takes no price"),
        (Order(side="buy", bar=0, qty=-1), "qty must be a finite number > 0"),
        (Order(side="buy", bar=0, qty=float("nan")), "qty must be"),
        (Order(side="buy", bar=0, stop_loss=0), "stop_loss must be"),
        (Order(side="buy", bar=1, ts=1_704_067_200_000), "name different bars"),
    ],
)
def test_bad_orders_are_refused(order: Order, message: str) -> None:
    c = bars([(10, 11, 9, 10)] * 4)
    with pytest.raises(ParamError, match=message):
        backtest(c, spec(lambda p, ctx: ctx.emit(order)), {}, OPTS, **RUN)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cash": 0}, "cash"),
        ({"fee": -0.1}, "fee"),
        ({"fill": "open"}, "fill"),
        ({"size": 1, "size_pct": 0.5}, "size_pct"),
        ({"size_pct": 1.5}, "size_pct"),
        ({"slippage_bps": float("inf")}, "slippage_bps"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ParamError) as info:
        Options(**kwargs)
    assert info.value.field == field


def test_bad_params_and_arguments() -> None:
    with pytest.raises(ParamError, match="params.fast"):
        backtest(GOOG, SMA_CROSS, {"fast": 0, "slow": 30}, OPTS, **RUN)
    with pytest.raises(ParamError, match="unknown parameter"):
        backtest(GOOG, SMA_CROSS, {"fats": 3}, OPTS, **RUN)
    with pytest.raises(ParamError, match="Options"):
        backtest(GOOG, SMA_CROSS, {}, {"cash": 1}, **RUN)  # type: ignore[arg-type]


def test_a_strategy_that_does_nothing_trades_nothing() -> None:
    result = backtest(GOOG, spec(lambda p, ctx: None), {}, OPTS, **RUN)
    stats = result.report.stats
    assert stats["total_trades"] == 0 and stats["final_equity"] == 10_000
    assert stats["win_rate"] is None and stats["profit_factor"] is None and stats["max_drawdown_pct"] == 0
    assert result.metadata["intent"] == "none"


def test_csv_helpers() -> None:
    from spark.engine import equity_csv, trades_csv

    result = backtest(GOOG, SMA_CROSS, {"fast": 10, "slow": 30}, OPTS, **RUN)
    lines = trades_csv(result).splitlines()
    assert lines[0] == "id,side,qty,entry_bar,entry_ts,entry_price,exit_bar,exit_ts,exit_price,pnl,fees,open"
    assert len(lines) == 34
    first = result.report.trades[0]
    assert lines[1].split(",")[:4] == ["1", "long", "1.0", str(first.entry_bar)]
    assert lines[-1].endswith(",true") and lines[-1].split(",")[6:9] == ["", "", ""]
    rows = equity_csv(result).splitlines()
    assert rows[0] == "timestamp,equity,drawdown_pct" and len(rows) == len(GOOG) + 1
    ts, eq, dd = rows[-1].split(",")
    assert (int(ts), float(eq), float(dd)) == (
        int(GOOG.timestamp[-1]),
        result.report.equity[-1],
        result.report.drawdown_pct[-1],
    )


def test_result_arrays_are_read_only() -> None:
    result = backtest(GOOG, SMA_CROSS, {"fast": 10, "slow": 30}, OPTS, **RUN)
    with pytest.raises(ValueError):
        result.report.equity[0] = 0.0
    assert len(result.report.fills) == 65 and result.report.fills[-1].side == "buy"
