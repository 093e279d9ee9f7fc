"""Risk gates on hand-made candles: each gate, deny against log, the account state machine, and that a run
without gates is the run it was before gates existed. Every figure here is worked out by hand in the comments."""

from __future__ import annotations

import json

import pytest

from spark.engine import Gates, Options, Order, backtest
from spark.errors import ParamError

from .helpers import RUN, bars, spec

# open, high, low, close: a steady climb with 1-wide ranges around each open (as in test_fills)
UP = bars([(10, 11, 9, 10), (12, 13, 11, 12), (14, 15, 13, 14), (16, 17, 15, 16), (18, 19, 17, 18)])
# a drop and a recovery, for the drawdown gates (cash 100, 5 units bought at 10 on bar 1):
# close-marked equity 100, 100, 90 (drawdown 10 %), 95, ...
DIP = bars(
    [
        (10, 10, 10, 10),
        (10, 10, 10, 10),
        (9, 9, 8, 8),
        (8.5, 9, 8.5, 9),
        (9.5, 9.5, 9.5, 9.5),
        (10, 10, 10, 10),
        (10, 10, 10, 10),
    ]
)


def orders(*items: Order):
    def fn(params, ctx):
        for item in items:
            ctx.emit(item)

    return spec(fn, "orders")


def short_signal(params, ctx):
    n = len(ctx.candles)
    no = [False] * n
    ctx.signals(no, no, short_entries=[i == 0 for i in range(n)], short_exits=no)


def run(strategy, candles=UP, **options):
    return backtest(candles, strategy, {}, Options(**options), **RUN)


def fills(result):
    return [(f.bar, f.side, f.qty, pytest.approx(f.price, abs=1e-12), f.reason) for f in result.report.fills]


def denied(result):
    return [(d.bar, d.gate, d.action, d.side, d.qty, pytest.approx(d.value), d.limit) for d in result.report.denied]


def states(result):
    return [(g.bar, g.from_state, g.to_state, pytest.approx(g.drawdown_pct)) for g in result.report.gate_states]


def test_max_order_notional_denies_the_order_over_it_and_never_a_reducing_one() -> None:
    # buy 2 decided at bar 0 fills at bar 1's open 12: notional 24 > 20, denied; buy 1 at bar 2's open 14 fills
    r = run(orders(Order(side="buy", qty=2, bar=0), Order(side="buy", qty=1, bar=1)), gates={"maxOrderNotional": 20})
    assert fills(r) == [(2, "buy", 1, 14, "market")]
    assert denied(r) == [(1, "maxOrderNotional", "deny", "buy", 2, 24, 20)]
    (row,) = r.report.denied
    assert row.order == 0 and row.price == 12 and row.ts == int(UP.timestamp[1])
    assert row.reason == "order notional 24 > maxOrderNotional 20"
    assert r.report.stats["denied_orders"] == 1 and r.report.stats["logged_violations"] == 0
    # slippage counts: 1 unit at 12 x 1.01 = 12.12 > 12
    r = run(orders(Order(side="buy", qty=1, bar=0)), slippage_bps=100, gates={"maxOrderNotional": 12})
    assert fills(r) == [] and denied(r) == [(1, "maxOrderNotional", "deny", "buy", 1, 12.12, 12)]
    # selling 2 at 16 (32 > 30) only reduces the position: it fills
    r = run(orders(Order(side="buy", qty=2, bar=0), Order(side="sell", qty=2, bar=2)), gates={"maxOrderNotional": 30})
    assert fills(r) == [(1, "buy", 2, 12, "market"), (3, "sell", 2, 16, "market")] and denied(r) == []


def test_log_mode_records_the_violation_and_fills_the_order() -> None:
    gates = {"maxOrderNotional": {"value": 20, "onViolation": "log"}}
    r = run(orders(Order(side="buy", qty=2, bar=0)), gates=gates)
    assert fills(r) == [(1, "buy", 2, 12, "market")]
    assert denied(r) == [(1, "maxOrderNotional", "log", "buy", 2, 24, 20)]
    assert r.report.stats["denied_orders"] == 0 and r.report.stats["logged_violations"] == 1
    # the top-level onViolation applies to the gates given as bare limits
    r2 = run(orders(Order(side="buy", qty=2, bar=0)), gates={"maxOrderNotional": 20, "onViolation": "log"})
    assert denied(r2) == denied(r) and r2.metadata["fingerprint"] == r.metadata["fingerprint"]


def test_max_position_notional_is_the_position_after_the_fill() -> None:
    # 1 unit at 12 (12), 2 units at 14 (28), then 3 units at 16 (48 > 30): denied
    r = run(orders(*(Order(side="buy", qty=1, bar=b) for b in range(3))), gates={"maxPositionNotional": 30})
    assert [f.bar for f in r.report.fills] == [1, 2]
    assert denied(r) == [(3, "maxPositionNotional", "deny", "buy", 1, 48, 30)]
    assert r.report.denied[0].reason == "position notional after the fill 48 > maxPositionNotional 30"


def test_long_only_denies_a_short_and_a_reversals_opening_part() -> None:
    r = run(spec(short_signal, "short"), gates={"longOnly": True})
    assert fills(r) == [] and denied(r) == [(1, "longOnly", "deny", "sell", 1, -1, 1)]
    assert r.report.denied[0].order is None  # a signal, not an emitted order
    # long 1 at 12, then sell 2 at 14: the closing unit fills, the unit that would open a short is denied
    r = run(orders(Order(side="buy", qty=1, bar=0), Order(side="sell", qty=2, bar=1)), gates={"longOnly": True})
    assert fills(r) == [(1, "buy", 1, 12, "market"), (2, "sell", 1, 14, "market")]
    assert denied(r) == [(2, "longOnly", "deny", "sell", 1, -1, 1)]
    assert r.report.stats["total_trades"] == 1


def test_max_orders_per_bar_counts_every_order_and_denies_only_opening_ones() -> None:
    r = run(orders(Order(side="buy", qty=1, bar=0), Order(side="buy", qty=1, bar=0)), gates={"maxOrdersPerBar": 1})
    assert fills(r) == [(1, "buy", 1, 12, "market")]
    assert denied(r) == [(1, "maxOrdersPerBar", "deny", "buy", 1, 2, 1)]
    assert r.report.denied[0].reason == "order 2 of this bar (maxOrdersPerBar 1)"
    # on bar 2 a sell (reducing, counted: 1) then a buy (2 > 1): the buy is denied
    r = run(
        orders(Order(side="buy", qty=2, bar=0), Order(side="sell", qty=1, bar=1), Order(side="buy", qty=1, bar=1)),
        gates={"maxOrdersPerBar": 1},
    )
    assert fills(r) == [(1, "buy", 2, 12, "market"), (2, "sell", 1, 14, "market")]
    assert denied(r) == [(2, "maxOrdersPerBar", "deny", "buy", 1, 2, 1)]
    assert r.report.denied[0].order == 2


def test_cooldown_after_a_stop_loss_exit_denies_opening_orders_through_its_last_bar() -> None:
    candles = bars([(10, 11, 9, 10), (12, 13, 11.8, 12), (12, 12, 11, 11.5), (12, 12, 12, 12), (12, 12, 12, 12)] * 1)
    buys = (Order(side="buy", qty=1, bar=0, stop_loss=11.5), Order(side="buy", qty=1, bar=2))
    more = (Order(side="buy", qty=1, bar=3),)
    # stop-loss exit on bar 2 at 11.5; cooldownBars 1 blocks bars 2..3: the buy decided at bar 2 (fills bar 3) is
    # denied, the one decided at bar 3 fills at bar 4
    r = run(orders(*buys, *more), candles=candles, gates={"cooldownBars": 1})
    assert fills(r) == [(1, "buy", 1, 12, "market"), (2, "sell", 1, 11.5, "stop_loss"), (4, "buy", 1, 12, "market")]
    assert denied(r) == [(3, "cooldownBars", "deny", "buy", 1, 3, 1)]
    assert "through bar 3" in r.report.denied[0].reason
    # without the gate the buy at bar 3 fills
    assert [f.bar for f in run(orders(*buys, *more), candles=candles).report.fills] == [1, 2, 3, 4]
    # a take-profit exit starts no cooldown
    tp = (Order(side="buy", qty=1, bar=0, take_profit=12.5), Order(side="buy", qty=1, bar=1))
    up = bars([(10, 11, 9, 10), (12, 13, 11.8, 12), (12, 13, 12, 12), (12, 12, 12, 12)])
    r = run(orders(*tp), candles=up, gates={"cooldownBars": 5})
    assert [f.reason for f in r.report.fills] == ["market", "take_profit", "market"] and denied(r) == []


def _dip(*extra: Order) -> object:
    return orders(Order(side="buy", qty=5, bar=0), *extra)


def test_max_drawdown_moves_to_reducing_and_lifts_once_flat_and_under() -> None:
    # long 5 at 10 (cash 50): equity 100, 100, 90 at bar 2's close (drawdown 10 % -> REDUCING); the buy decided at
    # bar 2 is denied at bar 3; the sell of 5 decided at bar 3 reduces (fills at 9.5: cash 97.5, flat); at bar
    # 4's close the drawdown is 2.5 % and the account is flat: ACTIVE; the buy decided at bar 4 fills at 10
    strategy = _dip(Order(side="buy", qty=1, bar=2), Order(side="sell", qty=5, bar=3), Order(side="buy", qty=1, bar=4))
    r = run(strategy, candles=DIP, cash=100, gates={"maxDrawdownPct": 10})
    assert states(r) == [(2, "ACTIVE", "REDUCING", 10), (4, "REDUCING", "ACTIVE", 2.5)]
    assert denied(r) == [(3, "maxDrawdownPct", "deny", "buy", 1, 10, 10)]
    assert fills(r) == [(1, "buy", 5, 10, "market"), (4, "sell", 5, 9.5, "market"), (5, "buy", 1, 10, "market")]
    assert r.report.drawdown_pct[2] == 10.0  # the state follows the drawdown the report shows
    assert "REDUCING" in r.report.denied[0].reason


def test_reducing_stays_while_flat_over_the_threshold() -> None:
    # the sell decided at bar 2 fills at bar 3's open 8.5: cash 92.5, flat, drawdown 7.5 % < 10: ACTIVE at bar 3.
    # With a threshold of 5 it stays REDUCING (flat but not under it: equity no longer moves) and later buys are
    # denied
    strategy = _dip(Order(side="sell", qty=5, bar=2), Order(side="buy", qty=1, bar=4))
    r = run(strategy, candles=DIP, cash=100, gates={"maxDrawdownPct": 10})
    assert states(r) == [(2, "ACTIVE", "REDUCING", 10), (3, "REDUCING", "ACTIVE", 7.5)] and denied(r) == []
    r = run(strategy, candles=DIP, cash=100, gates={"maxDrawdownPct": 5})
    assert states(r) == [(2, "ACTIVE", "REDUCING", 10)]
    assert denied(r) == [(5, "maxDrawdownPct", "deny", "buy", 1, 7.5, 5)]


def test_halt_drawdown_halts_to_the_end_and_lets_only_closing_orders_through() -> None:
    # drawdown 10 % at bar 2 reaches both thresholds: HALTED straight away (halt wins). The buy at bar 3 is denied,
    # the closing sell fills, and the account stays HALTED though flat at 2.5 %: the buy at bar 5 is denied too
    strategy = _dip(Order(side="buy", qty=1, bar=2), Order(side="sell", qty=5, bar=3), Order(side="buy", qty=1, bar=4))
    r = run(strategy, candles=DIP, cash=100, gates={"maxDrawdownPct": 5, "haltDrawdownPct": 10})
    assert states(r) == [(2, "ACTIVE", "HALTED", 10)]
    assert denied(r) == [
        (3, "haltDrawdownPct", "deny", "buy", 1, 10, 10),
        (5, "haltDrawdownPct", "deny", "buy", 1, 2.5, 10),
    ]
    assert [f.side for f in r.report.fills] == ["buy", "sell"]
    assert "HALTED" in r.report.denied[0].reason


def test_reducing_then_halted() -> None:
    # closes 10, 10, 9 (equity 95: 5 %), 7 (equity 85: 15 %)
    candles = bars([(10, 10, 10, 10), (10, 10, 10, 10), (9, 9, 9, 9), (7, 7, 7, 7), (7, 7, 7, 7)])
    r = run(_dip(), candles=candles, cash=100, gates={"maxDrawdownPct": 5, "haltDrawdownPct": 15})
    assert states(r) == [(2, "ACTIVE", "REDUCING", 5), (3, "REDUCING", "HALTED", 15)]


def test_log_mode_state_gate_lets_orders_through_and_records_them() -> None:
    strategy = _dip(Order(side="buy", qty=1, bar=2))
    r = run(strategy, candles=DIP, cash=100, gates={"maxDrawdownPct": {"value": 10, "onViolation": "log"}})
    assert states(r) == [(2, "ACTIVE", "REDUCING", 10)]
    assert denied(r) == [(3, "maxDrawdownPct", "log", "buy", 1, 10, 10)]
    assert fills(r)[-1] == (3, "buy", 1, 8.5, "market")


def test_gates_are_checked_in_order_logging_each_until_the_first_deny() -> None:
    # 2 units at 12: notional 24 > 20 (log), position 24 > 20 (deny): both recorded, nothing filled
    gates = {"maxOrderNotional": {"value": 20, "onViolation": "log"}, "maxPositionNotional": 20, "longOnly": True}
    r = run(orders(Order(side="buy", qty=2, bar=0)), gates=gates)
    assert fills(r) == []
    assert denied(r) == [
        (1, "maxOrderNotional", "log", "buy", 2, 24, 20),
        (1, "maxPositionNotional", "deny", "buy", 2, 24, 20),
    ]
    assert r.report.stats["denied_orders"] == 1 and r.report.stats["logged_violations"] == 1


def test_a_denied_target_is_tried_again_like_a_rejected_one() -> None:
    def two_units(params, ctx):
        ctx.target([2.0] * len(ctx.candles))

    # the target of 2 units (24 at bar 1, 28, 32 ...) stays over 20: tried and denied at every bar it could fill
    r = run(spec(two_units, "target"), gates={"maxPositionNotional": 20})
    assert [d.bar for d in r.report.denied] == [1, 2, 3, 4] and fills(r) == []


def test_fingerprint_includes_the_gates_in_a_canonical_form() -> None:
    strategy = orders(Order(side="buy", qty=1, bar=0))
    plain = run(strategy)
    short = run(strategy, gates={"maxOrderNotional": 1000})
    long = run(strategy, gates={"maxOrderNotional": {"value": 1000.0, "onViolation": "deny"}})
    typed = run(strategy, gates=Gates(max_order_notional=1000))
    logged = run(strategy, gates={"maxOrderNotional": 1000, "onViolation": "log"})
    other = run(strategy, gates={"maxOrderNotional": 999})
    assert short.metadata["fingerprint"] == long.metadata["fingerprint"] == typed.metadata["fingerprint"]
    fps = {r.metadata["fingerprint"] for r in (plain, short, logged, other)}
    assert len(fps) == 4
    # no gate on is no gates at all
    assert run(strategy, gates={}).metadata["fingerprint"] == plain.metadata["fingerprint"]
    # a gate that never fires changes nothing but the fingerprint and what the result states
    assert short.metadata["orders_hash"] == plain.metadata["orders_hash"]
    assert short.report.equity.tobytes() == plain.report.equity.tobytes()


def test_a_run_without_gates_has_no_gate_fields_and_a_gated_one_states_them() -> None:
    strategy = orders(Order(side="buy", qty=2, bar=0))
    plain = json.loads(run(strategy).to_json())
    assert set(plain["report"]) == {"stats", "trades", "fills", "rejected"}
    assert "gates" not in plain["metadata"]["options"] and "gates" not in plain["metadata"]["semantics"]
    assert "deniedOrders" not in plain["report"]["stats"]
    gated = json.loads(run(strategy, gates={"maxOrderNotional": 20, "longOnly": True}).to_json())
    assert gated["metadata"]["options"]["gates"] == {
        "longOnly": {"value": True, "onViolation": "deny"},
        "maxOrderNotional": {"value": 20.0, "onViolation": "deny"},
    }
    assert "maxOrderNotional" in gated["metadata"]["semantics"]["gates"]
    assert gated["report"]["stats"]["deniedOrders"] == 1
    assert gated["report"]["denied"] == [
        {
            "bar": 1,
            "ts": int(UP.timestamp[1]),
            "gate": "maxOrderNotional",
            "reason": "order notional 24 > maxOrderNotional 20",
            "order": 0,
            "action": "deny",
            "side": "buy",
            "qty": 2.0,
            "price": 12.0,
            "value": 24.0,
            "limit": 20.0,
        }
    ]
    assert gated["report"]["gateStates"] == []


def test_gated_runs_are_deterministic() -> None:
    strategy = _dip(Order(side="buy", qty=1, bar=2), Order(side="sell", qty=5, bar=3))
    a = run(strategy, candles=DIP, cash=100, gates={"maxDrawdownPct": 10, "maxOrderNotional": 60})
    b = run(strategy, candles=DIP, cash=100, gates={"maxDrawdownPct": 10, "maxOrderNotional": 60})
    assert a.to_json() == b.to_json()


@pytest.mark.parametrize(
    ("gates", "field"),
    [
        ({"maxOrderNotional": -1}, "gates.maxOrderNotional"),
        ({"maxOrderNotional": "big"}, "gates.maxOrderNotional"),
        ({"maxOrderNotional": float("nan")}, "gates.maxOrderNotional"),
        ({"maxPositionNotional": 0}, "gates.maxPositionNotional"),
        ({"maxOrdersPerBar": 1.5}, "gates.maxOrdersPerBar"),
        ({"maxOrdersPerBar": 0}, "gates.maxOrdersPerBar"),
        ({"cooldownBars": True}, "gates.cooldownBars"),
        ({"maxDrawdownPct": 150}, "gates.maxDrawdownPct"),
        ({"longOnly": "yes"}, "gates.longOnly"),
        ({"maxDrawdownPct": 20, "haltDrawdownPct": 10}, "gates.haltDrawdownPct"),
        ({"maxOrderNotional": 10, "onViolation": "warn"}, "gates.onViolation"),
        ({"maxOrderNotional": {"value": 10, "onViolation": "warn"}}, "gates.maxOrderNotional.onViolation"),
        ({"maxOrderNotional": {"limit": 10}}, "gates.maxOrderNotional.limit"),
        ({"maxOrderNotional": {}}, "gates.maxOrderNotional.value"),
        ({"maxLeverage": 2}, "gates.maxLeverage"),
        ([1, 2], "gates"),
    ],
)
def test_bad_gates_name_the_field(gates, field) -> None:
    with pytest.raises(ParamError) as info:
        Options(gates=gates)
    assert info.value.field == field
    assert field in info.value.message or field == "gates"


def test_many_denials_and_state_changes_outgrow_the_first_tables() -> None:
    def two_units(params, ctx):
        ctx.target([2.0] * len(ctx.candles))

    flat = bars([(10, 10, 10, 10)] * 2000)
    r = run(spec(two_units, "target"), candles=flat, gates={"maxPositionNotional": 15})
    assert [d.bar for d in r.report.denied] == list(range(1, 2000))  # 1,999 rows: the table grew past 256
    # 150 cycles of: buy at 100 (decided at the bar before), close at 50 (REDUCING), sell at 160 (flat at a new
    # peak: ACTIVE): 300 state changes
    cycle = [(100, 100, 100, 100), (100, 100, 50, 50), (160, 160, 160, 160)]

    def round_trips(params, ctx):
        ctx.target([1.0, 0.0, 0.0] * 150)

    r = run(spec(round_trips, "target"), candles=bars(cycle * 150), cash=1000, gates={"maxDrawdownPct": 0.1})
    changes = [(g.bar, g.to_state) for g in r.report.gate_states]
    assert len(changes) == 300 and denied(r) == []
    assert changes[:4] == [(1, "REDUCING"), (2, "ACTIVE"), (4, "REDUCING"), (5, "ACTIVE")]
    assert changes[-1] == (449, "ACTIVE")
