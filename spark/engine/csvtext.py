"""A backtest's trades and equity as CSV text: the downloads the service renders (streamed) and `spark backtest
--csv` writes. Numbers are ``repr`` of the float (round-trips exactly); an open trade's exit fields are empty."""

from __future__ import annotations

from spark.engine.result import BacktestResult

__all__ = ["equity_csv", "trades_csv"]


def _num(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def trades_csv(result: BacktestResult) -> str:
    """The trade list as CSV text (header line first; empty fields for an open trade's exit)."""
    lines = ["id,side,qty,entry_bar,entry_ts,entry_price,exit_bar,exit_ts,exit_price,pnl,fees,open"]
    for t in result.report.trades:
        lines.append(
            ",".join(
                (
                    str(t.id),
                    t.side,
                    _num(t.qty),
                    str(t.entry_bar),
                    str(t.entry_ts),
                    _num(t.entry_price),
                    "" if t.exit_bar is None else str(t.exit_bar),
                    "" if t.exit_ts is None else str(t.exit_ts),
                    _num(t.exit_price),
                    _num(t.pnl),
                    _num(t.fees),
                    "true" if t.open else "false",
                )
            )
        )
    return "\n".join(lines) + "\n"


def equity_csv(result: BacktestResult) -> str:
    """Per-bar equity (marked at the close) and drawdown in percent, as CSV text."""
    rep = result.report
    rows = zip(rep.timestamp.tolist(), rep.equity.tolist(), rep.drawdown_pct.tolist(), strict=True)
    return "timestamp,equity,drawdown_pct\n" + "".join(f"{ts},{eq!r},{dd!r}\n" for ts, eq, dd in rows)
