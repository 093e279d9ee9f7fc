"""The dashboard's pure helpers, run in the browser as the page loads them (ES modules from the real server)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server


@pytest.fixture
def modules(page: Any, engine_server: Server) -> Any:
    """call(module, body, arg): run `body` (JS, with the module as `m` and `arg`) in the page, return its value."""
    page.goto(f"{engine_server.url}/backtest")
    page.wait_for_selector("body[data-ready=true]")

    def call(module: str, body: str, arg: Any = None) -> Any:
        return page.evaluate(f"async (arg) => {{ const m = await import('/backtest/assets/{module}'); {body} }}", arg)

    return call


def test_line_points_skip_gaps_and_keep_times_strictly_increasing(modules: Any) -> None:
    """Epoch ms become the library's seconds; a null (an indicator's warm-up) is a gap, a repeated second dropped."""
    out = modules(
        "charts.js",
        "return m.toLine(arg.t, arg.v);",
        {"t": [1000, 2000, 2500, 3000, 4000], "v": [None, 1.5, 9, 2, float("nan")]},
    )
    assert out == [{"time": 2, "value": 1.5}, {"time": 3, "value": 2}]


def test_a_zoomed_window_replaces_the_overview_inside_it_only(modules: Any) -> None:
    out = modules(
        "charts.js",
        """const pts = (ts) => ts.map((time) => ({time, value: time}));
        return m.mergeWindow(pts([0, 10, 20, 30, 40]), pts([14, 15, 16]), 12, 18).map((p) => p.time);""",
    )
    assert out == [0, 10, 14, 15, 16, 20, 30, 40]


def test_markers_snap_to_the_bucket_holding_their_time(modules: Any) -> None:
    out = modules(
        "charts.js",
        """const pts = [{time: 10}, {time: 20}, {time: 30}];
        return [m.snapTime(pts, 25), m.snapTime(pts, 30), m.snapTime(pts, 99), m.snapTime(pts, 5), m.at(pts, 5)];""",
    )
    assert out == [20, 30, 30, 10, None]


def test_a_stale_answer_is_told_apart_from_the_latest(modules: Any) -> None:
    out = modules(
        "charts.js",
        "const l = m.latest(); const a = l.next(); const b = l.next(); return [l.current(a), l.current(b)];",
    )
    assert out == [False, True]


def test_options_read_as_sentences(modules: Any) -> None:
    rows = modules(
        "settings.js",
        "return m.optionSentences(arg);",
        {
            "cash": 10000,
            "fee": 0.001,
            "slippageBps": 5,
            "size": None,
            "sizePct": 0.5,
            "fill": "next_open",
            "periodsPerYear": None,
            "margin": False,
            "gates": {"maxDrawdownPct": {"limit": 10, "onViolation": "deny"}},
        },
    )
    assert rows == [
        ["Cash", "Starts with 10,000.00 in cash."],
        ["Fee", "A fee of 0.1 % of the traded value on every fill."],
        ["Slippage", "5 bps against the trader on every fill."],
        ["Order size", "Each order uses 50 % of equity."],
        ["Fill", "An order decided at a bar's close fills at the next bar's open."],
        ["Margin", "No margin: orders are backed by cash."],
        ["Risk gates", "Max drawdown %: limit 10 · onViolation deny"],
    ]


def test_trade_cells_show_prices_to_the_instruments_precision_and_money_to_cents(modules: Any) -> None:
    trade = {
        "id": 3,
        "side": "short",
        "qty": 0.5,
        "entryTs": 0,
        "entryPrice": 1234.5,
        "exitTs": None,
        "exitPrice": None,
        "pnl": -12.345,
        "fees": 0.1,
        "open": True,
        "returnPct": -2.5,
        "durationMs": None,
    }
    out = modules(
        "trades.js",
        "return m.tradeColumns(3).map((c) => [c.key, c.show(arg[c.key], arg)]);",
        trade,
    )
    shown = dict(out)
    assert shown["entryPrice"] == "1,234.500"
    assert shown["pnl"] == "−12.35" and shown["fees"] == "0.10"
    assert shown["returnPct"] == "−2.50 %"
    assert shown["side"] == "short (open)" and shown["exitTs"] == "open" and shown["durationMs"] == "—"


def test_equity_answer_is_read_by_its_documented_names_only(modules: Any) -> None:
    columns = {"timestamp": [1, 2], "equity": [10, 9], "drawdownPct": [0, 10]}
    assert modules("chart.js", "return m.normalizeEquity(arg);", columns) == {
        "t": [1, 2],
        "equity": [10, 9],
        "drawdown": [0, 10],
    }
    other_spelling = {"t": [1, 2], "equity": [10, 9], "drawdown": [0, -10]}  # not the wire: not guessed at
    assert modules("chart.js", "return m.normalizeEquity(arg);", other_spelling) == {
        "t": None,
        "equity": [10, 9],
        "drawdown": [0, 0],
    }


def test_stats_are_labelled_and_formatted_by_their_wire_names(modules: Any) -> None:
    out = modules(
        "format.js",
        """return [
        m.humanize('maxDrawdownPct'), m.humanize('buy_and_hold_return_pct'), m.humanize('entryTs'),
        m.fmtStat('winRate', 0.5), m.fmtStat('maxDrawdownPct', 1.93209), m.fmtStat('pnl', 12.5),
        m.fmtStat('maxDrawdownDurationMs', 90000), m.fmtStat('sharpe', null)];""",
    )
    assert out == [
        "Max drawdown %",
        "Buy and hold return %",
        "Entry time",
        "50 %",
        "1.93 %",
        "+12.5",
        "1 min 30 s",
        "—",
    ]


def test_a_list_read_from_the_api_never_moves_a_run_backwards(modules: Any) -> None:
    """Polling can answer with a state older than an event already seen: the newer state wins."""
    statuses = modules(
        "live.js",
        """
        const s = new m.RunStore();
        s.upsert({id: 'a', status: 'done', progress: 1});
        s.upsert({id: 'b', status: 'running', progress: 0.5});
        s.merge(arg);
        return s.sorted().map((r) => [r.id, r.status, r.progress]).sort();""",
        [
            {"id": "a", "status": "running", "progress": 0.9},
            {"id": "b", "status": "running", "progress": 0.7},
            {"id": "c", "status": "queued", "progress": 0},
        ],
    )
    assert statuses == [["a", "done", 1], ["b", "running", 0.7], ["c", "queued", 0]]
