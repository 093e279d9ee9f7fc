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


def test_csv_parser_handles_quotes_newlines_and_a_missing_last_newline(modules: Any) -> None:
    text = 'id,note\r\n1,"a, ""b"""\n2,"x\ny"\n3,'
    rows = modules("trades.js", "return m.parseCsv(arg);", text)
    assert rows == [["id", "note"], ["1", 'a, "b"'], ["2", "x\ny"], ["3", ""]]


def test_trade_rows_become_numbers_and_open_exits_stay_empty(modules: Any) -> None:
    text = "id,side,exit_ts,pnl\n1,long,,-2.5\n2,short,1700000000000,3\n"
    assert modules("trades.js", "return m.tradesFrom(arg);", text) == {
        "columns": ["id", "side", "exit_ts", "pnl"],
        "rows": [[1, "long", "", -2.5], [2, "short", 1700000000000, 3]],
    }


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
