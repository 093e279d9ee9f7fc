"""Hand-made candle sets with fills computed by hand, one rule per test."""

from __future__ import annotations

import numpy as np
import pytest

from spark.engine import Options, Order, backtest

from .helpers import RUN, bars, spec

# open, high, low, close: a steady climb with 1-wide ranges around each open
UP = bars([(10, 11, 9, 10), (12, 13, 11, 12), (14, 15, 13, 14), (16, 17, 15, 16), (18, 19, 17, 18)])


def flags(n: int, *on: int) -> np.ndarray:
    arr = np.zeros(n, dtype=bool)
    arr[list(on)] = True
    return arr


def signals(entries=(), exits=(), short_entries=None, short_exits=None):
    def fn(params, ctx):
        n = len(ctx.candles)
        kw = {}
        if short_entries is not None:
            kw = {"short_entries": flags(n, *short_entries), "short_exits": flags(n, *short_exits)}
        ctx.signals(flags(n, *entries), flags(n, *exits), **kw)

    return spec(fn, "signals")


def orders(*items: Order):
    def fn(params, ctx):
        for item in items:
            ctx.emit(item)

    return spec(fn, "orders")


def run(strategy, candles=UP, **options):
    return backtest(candles, strategy, {}, Options(**options), **RUN)


def fills(result):
    return [
        (f.bar, f.side, f.qty, pytest.approx(f.price, abs=1e-12), pytest.approx(f.fee, abs=1e-12), f.reason)
        for f in result.report.fills
    ]


def test_next_open_fills_at_the_following_bars_open() -> None:
    r = run(signals(entries=[0], exits=[2]))
    assert fills(r) == [(1, "buy", 1, 12, 0, "market"), (3, "sell", 1, 16, 0, "market")]
    assert r.report.equity.tolist() == [10_000, 10_000, 10_002, 10_004, 10_004]
    (t,) = r.report.trades
    assert (t.side, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price, t.pnl, t.open) == (
        "long",
        1,
        3,
        12,
        16,
        4,
        False,
    )
    assert t.entry_ts == int(UP.timestamp[1]) and t.exit_ts == int(UP.timestamp[3])
    assert r.report.stats["exposure_pct"] == pytest.approx(40.0)  # long at the close of bars 1 and 2


def test_close_fills_at_the_same_bars_close() -> None:
    r = run(signals(entries=[0], exits=[2]), fill="close")
    assert fills(r) == [(0, "buy", 1, 10, 0, "market"), (2, "sell", 1, 14, 0, "market")]
    assert r.report.equity.tolist() == [10_000, 10_002, 10_004, 10_004, 10_004]


def test_fee_is_a_rate_of_traded_value_on_every_fill() -> None:
    r = run(signals(entries=[0], exits=[2]), fee=0.01)
    assert fills(r) == [(1, "buy", 1, 12, 0.12, "market"), (3, "sell", 1, 16, 0.16, "market")]
    assert r.report.stats["fees_paid"] == pytest.approx(0.28)
    assert r.report.stats["final_equity"] == pytest.approx(10_003.72)
    assert r.report.trades[0].pnl == pytest.approx(3.72) and r.report.trades[0].fees == pytest.approx(0.28)


def test_slippage_moves_every_fill_against_the_trader() -> None:
    r = run(signals(entries=[0], exits=[2]), slippage_bps=50, fee=0.01)
    assert fills(r) == [(1, "buy", 1, 12.06, 0.1206, "market"), (3, "sell", 1, 15.92, 0.1592, "market")]
    assert r.report.stats["final_equity"] == pytest.approx(10_000 + 3.86 - 0.2798)


def test_short_round_trip() -> None:
    r = run(signals(short_entries=[0], short_exits=[2]))
    assert fills(r) == [(1, "sell", 1, 12, 0, "market"), (3, "buy", 1, 16, 0, "market")]
    assert r.report.equity.tolist() == [10_000, 10_000, 9_998, 9_996, 9_996]
    (t,) = r.report.trades
    assert (t.side, t.pnl) == ("short", -4)


def test_exit_and_short_entry_on_one_bar_reverse_the_position() -> None:
    r = run(signals(entries=[0], exits=[1], short_entries=[1], short_exits=[2]))
    assert fills(r) == [
        (1, "buy", 1, 12, 0, "market"),
        (2, "sell", 1, 14, 0, "market"),
        (2, "sell", 1, 14, 0, "market"),
        (3, "buy", 1, 16, 0, "market"),
    ]
    assert [(t.side, t.pnl) for t in r.report.trades] == [("long", 2), ("short", -2)]


def test_entries_while_long_are_ignored_and_an_exit_needs_a_position() -> None:
    r = run(signals(entries=[0, 1, 2], exits=[]))
    assert fills(r) == [(1, "buy", 1, 12, 0, "market")]
    assert run(signals(entries=[], exits=[0, 1])).report.stats["total_trades"] == 0


def test_open_position_at_the_end_is_marked_not_closed() -> None:
    r = run(signals(entries=[0], exits=[]), fee=0.01)
    (t,) = r.report.trades
    assert t.open and t.exit_price is None and t.exit_bar is None
    assert t.pnl == pytest.approx(18 - 12 - 0.12)  # marked at the last close, entry fee only
    stats = r.report.stats
    assert (stats["total_trades"], stats["open_trades"], stats["closed_trades"]) == (1, 1, 0)
    assert stats["final_equity"] == pytest.approx(10_000 - 12.12 + 18)
    assert stats["win_rate"] is None  # over closed trades only


@pytest.mark.parametrize(
    ("side", "kind", "level", "price"),
    [
        ("buy", "limit", 11.5, 11.5),  # bar 1 (12, 13, 11, 12) trades down to the level
        ("buy", "limit", 12.5, 12),  # opens below the level: gap through, filled at the open
        ("buy", "stop", 12.5, 12.5),  # trades up to the level
        ("buy", "stop", 11.5, 12),  # opens above the level: at the open
        ("sell", "limit", 12.5, 12.5),
        ("sell", "limit", 11.5, 12),
        ("sell", "stop", 11.5, 11.5),
        ("sell", "stop", 12.5, 12),
    ],
)
def test_limit_and_stop_fill_at_the_level_or_at_a_gapped_open(side, kind, level, price) -> None:
    r = run(orders(Order(side=side, type=kind, price=level, bar=0)))
    assert fills(r) == [(1, side, 1, price, 0, kind)]


def test_limit_works_until_filled_and_a_newer_one_replaces_it() -> None:
    r = run(orders(Order(side="buy", type="limit", price=5, bar=0)))
    assert r.report.stats["total_trades"] == 0
    # placed at bar 0, untouched by bars 1-2 (highs 13, 15), filled on bar 3 whose high reaches 17
    r = run(orders(Order(side="sell", type="limit", price=16.5, bar=0)))
    assert fills(r) == [(3, "sell", 1, 16.5, 0, "limit")]
    r = run(
        orders(Order(side="sell", type="limit", price=16.5, bar=0), Order(side="buy", type="stop", price=14.5, bar=1))
    )
    assert fills(r) == [(2, "buy", 1, 14.5, 0, "stop")]


def test_a_limit_order_works_from_the_next_bar_in_close_mode_too() -> None:
    r = run(orders(Order(side="buy", type="limit", price=10, bar=0)), fill="close")
    assert fills(r) == []  # bar 0 reached 10 but the order only works from bar 1; later bars stay above


def test_stop_loss_first_when_one_bar_touches_both() -> None:
    r = run(orders(Order(side="buy", bar=0, stop_loss=11.5, take_profit=12.8)))
    assert fills(r) == [(1, "buy", 1, 12, 0, "market"), (1, "sell", 1, 11.5, 0, "stop_loss")]
    assert r.report.trades[0].pnl == pytest.approx(-0.5)


def test_take_profit_alone() -> None:
    r = run(orders(Order(side="buy", bar=0, stop_loss=10.5, take_profit=12.8)))
    assert fills(r) == [(1, "buy", 1, 12, 0, "market"), (1, "sell", 1, 12.8, 0, "take_profit")]


def test_short_stop_loss_and_take_profit() -> None:
    r = run(orders(Order(side="sell", bar=0, stop_loss=12.8, take_profit=11.5)))
    assert fills(r) == [(1, "sell", 1, 12, 0, "market"), (1, "buy", 1, 12.8, 0, "stop_loss")]
    r = run(orders(Order(side="sell", bar=0, stop_loss=20, take_profit=11.5)))
    assert fills(r) == [(1, "sell", 1, 12, 0, "market"), (1, "buy", 1, 11.5, 0, "take_profit")]


def test_stop_loss_and_take_profit_gap_fills_at_the_open() -> None:
    down = bars([(10, 11, 9, 10), (12, 13, 11.8, 12), (10, 10.5, 9, 10)])
    r = run(orders(Order(side="buy", bar=0, stop_loss=11.5)), candles=down)
    assert fills(r) == [(1, "buy", 1, 12, 0, "market"), (2, "sell", 1, 10, 0, "stop_loss")]
    up = bars([(10, 11, 9, 10), (12, 13, 11.8, 12), (14, 15, 13.9, 14)])
    r = run(orders(Order(side="buy", bar=0, stop_loss=11.5, take_profit=13.5)), candles=up)
    assert fills(r) == [(1, "buy", 1, 12, 0, "market"), (2, "sell", 1, 14, 0, "take_profit")]


def test_an_order_needing_more_cash_than_held_is_rejected() -> None:
    r = run(orders(Order(side="buy", qty=2, bar=0)), cash=20)
    assert fills(r) == []
    assert r.report.stats["rejected_orders"] == 1
    (rej,) = r.report.rejected
    assert (rej.bar, rej.side, rej.qty, rej.price, rej.order, rej.reason) == (1, "buy", 2, 12, 0, "insufficient_cash")
    # the fee counts: 12 + 0.12 > 12
    r = run(signals(entries=[0], exits=[]), cash=12, fee=0.01)
    assert r.report.stats["rejected_orders"] == 1 and r.report.stats["total_trades"] == 0
    # exactly affordable fills
    assert run(signals(entries=[0], exits=[]), cash=12).report.stats["total_trades"] == 1
    # margin lifts the check
    assert run(orders(Order(side="buy", qty=2, bar=0)), cash=20, margin=True).report.stats["rejected_orders"] == 0


def test_a_short_needs_equity_covering_its_notional() -> None:
    r = run(signals(short_entries=[0], short_exits=[]), cash=11)
    assert r.report.stats["rejected_orders"] == 1
    assert run(signals(short_entries=[0], short_exits=[]), cash=12).report.stats["rejected_orders"] == 0


def test_size_pct_sizes_from_equity_so_that_fee_included_cost_is_the_fraction() -> None:
    r = run(signals(entries=[0], exits=[2]), size_pct=0.5, fee=0.001)
    buy = r.report.fills[0]
    assert buy.qty == pytest.approx(5_000 / (12 * 1.001))
    assert buy.qty * buy.price + buy.fee == pytest.approx(5_000)
    r = run(signals(entries=[0], exits=[]), size_pct=1.0, fee=0.001, slippage_bps=10)
    assert r.report.stats["rejected_orders"] == 0 and r.report.stats["total_trades"] == 1


def test_explicit_size_in_units() -> None:
    r = run(signals(entries=[0], exits=[2]), size=2.5)
    assert [f.qty for f in r.report.fills] == [2.5, 2.5]
    assert r.report.stats["pnl"] == pytest.approx(10)


def test_an_order_on_the_last_bar_is_not_filled_with_next_open() -> None:
    r = run(orders(Order(side="buy", bar=4)))
    assert fills(r) == [] and r.report.stats["rejected_orders"] == 0
    r = run(orders(Order(side="buy", bar=4)), fill="close")
    assert fills(r) == [(4, "buy", 1, 18, 0, "market")]


def test_emit_by_timestamp_and_qty_none_closes_an_opposite_position() -> None:
    r = run(orders(Order(side="buy", qty=3, ts=int(UP.timestamp[0])), Order(side="sell", bar=2)))
    assert fills(r) == [(1, "buy", 3, 12, 0, "market"), (3, "sell", 3, 16, 0, "market")]
    assert [f.order for f in r.report.fills] == [0, 1]


def test_target_positions_in_units() -> None:
    def fn(params, ctx):
        ctx.target([0, 2, 1, -1, 0])

    r = run(spec(fn))
    assert fills(r) == [
        (2, "buy", 2, 14, 0, "market"),
        (3, "sell", 1, 16, 0, "market"),
        (4, "sell", 1, 18, 0, "market"),
        (4, "sell", 1, 18, 0, "market"),
    ]
    assert r.report.equity.tolist() == [10_000, 10_000, 10_000, 10_004, 10_006]
    long, short = r.report.trades
    assert (long.qty, long.entry_price, long.exit_price, long.pnl) == (2, 14, 17, 6)
    assert (short.side, short.open, short.pnl) == ("short", True, 0)


def test_target_fractions_with_size_pct() -> None:
    def fn(params, ctx):
        ctx.target([1.0, 1.0, 0.5, 0.5, 0.5])

    r = run(spec(fn), size_pct=1.0)
    f = r.report.fills
    assert (f[0].bar, f[0].qty) == (1, pytest.approx(10_000 / 12))
    # at bar 3's open equity is 10_000 / 12 * 16; half of it in units, the rest sold
    assert (f[1].bar, f[1].side, f[1].qty) == (3, "sell", pytest.approx(10_000 / 12 - 10_000 / 12 * 16 / 2 / 16))
    assert len(f) == 2  # unchanged fractions are not re-traded


def test_sizing_from_no_equity_is_rejected_on_the_orders_side() -> None:
    c = bars([(10, 10, 10, 10), (12, 12, 12, 12), (10, 10, 10, 10), (10, 10, 10, 10)])
    r = run(
        orders(Order(side="buy", qty=100, bar=0), Order(side="sell", bar=1), Order(side="sell", bar=2)),
        candles=c,
        cash=10,
        margin=True,
        size_pct=0.5,
    )
    assert fills(r) == [(1, "buy", 100, 12, 0, "market"), (2, "sell", 100, 10, 0, "market")]
    (rej,) = r.report.rejected
    assert (rej.bar, rej.side, rej.qty, rej.order) == (3, "sell", 0, 2)
    assert r.report.stats["final_equity"] == pytest.approx(-190)
    assert r.report.stats["sharpe"] is None and r.report.stats["cagr_pct"] is None
