"""The batched sweep kernel: one compiled pass per parameter set that accumulates the summary stats on the fly.

No per-bar output and no trade tables: the pass keeps equity, the running peak and drawdown, the return moments
(the same shifted sums as `spark.engine.curve.equity_pass`) and trade counters, and writes one row of
accumulators (layout ``ACC_*``). Fills go through the fill kernel's own helpers (`spark.engine.kernel`), into
scratch tables that are folded into the accumulators and emptied after every bar, so every trade is booked by the
same arithmetic as `run_backtest`'s. Signals are evaluated inside the pass from a rule over precomputed arrays
(indicators computed once per distinct window by the caller), so no boolean array is built per set:

- ``RULE_BOOL``: ``ent``/``ex`` (and ``sent``/``sex`` for shorts) are the signal arrays themselves;
- ``RULE_CROSS``: enter when ``ea`` crosses strictly above ``eb``, exit when ``xa`` crosses strictly below ``xb``
  (``crossed_above``/``crossed_below`` of the built-in indicators, NaN never crossing);
- ``RULE_LEVEL``: enter when ``ea < lo_level``, exit when ``ea > hi_level`` (NaN never firing).

``start`` masks signals before that bar (a walk-forward test window's warm-up): no decision is taken there.
Same rules as the fill kernel: ``cache=True``, no ``fastmath``, ``error_model="numpy"``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spark.engine.curve import equity_pass
from spark.engine.kernel import (
    _CASH,
    _EXPOSED,
    _FEE,
    _MARGIN,
    _NEXT_ID,
    _NF,
    _NR,
    _NSTATE,
    _NT,
    _PCT,
    _POS,
    _SIZE,
    _SL,
    _SLIP,
    _TID,
    _TP,
    _enter,
    _execute,
)

__all__ = ["ACC_COLS", "ACC_NAMES", "RULE_BOOL", "RULE_CROSS", "RULE_LEVEL", "accumulate_tables", "signal_stats"]

RULE_BOOL, RULE_CROSS, RULE_LEVEL = 0, 1, 2

ACC_NAMES = (
    "final",  # equity at the last close
    "closed",  # closed trades
    "wins",  # closed trades with pnl > 0
    "sum_pnl",
    "gross_win",
    "gross_loss",
    "sum_ratio",  # sum of pnl / notional over closed trades
    "bad_notional",  # closed trades with notional <= 0 (expectancy undefined)
    "max_dd",
    "dd_bars",
    "dd_start",
    "dd_end",
    "mean",
    "m2",
    "down2",
    "ok",  # 1.0 when equity stayed > 0 (returns defined)
    "exposed",
    "fees",
    "rejected",
    "open",  # 1.0 when a position is open at the end
)
ACC_COLS = len(ACC_NAMES)
_SCRATCH = 16  # rows: a bar books at most an exit and an entry, two legs each


@njit(cache=True, error_model="numpy")
def _fold(st, fills, trades, acc):
    """Fold the scratch tables' rows into the accumulators and empty them."""
    for i in range(int(st[_NF])):
        acc[17] += fills[i, 4]
    for i in range(int(st[_NT])):
        pnl = trades[i, 7]
        acc[1] += 1.0
        if pnl > 0.0:
            acc[2] += 1.0
            acc[4] += pnl
        elif pnl < 0.0:
            acc[5] -= pnl
        acc[3] += pnl
        notional = trades[i, 2] * trades[i, 5]
        if notional > 0.0:
            acc[6] += pnl / notional
        else:
            acc[7] += 1.0
    acc[18] += st[_NR]
    st[_NF] = 0.0
    st[_NT] = 0.0
    st[_NR] = 0.0


@njit(inline="always", cache=True)
def _enter_long(rule, t, ent, ea, eb, lo_level):
    if rule == RULE_BOOL:
        return ent[t]
    if rule == RULE_CROSS:
        return t > 0 and ea[t - 1] < eb[t - 1] and ea[t] > eb[t]
    return ea[t] < lo_level


@njit(inline="always", cache=True)
def _exit_long(rule, t, ex, ea, eb, xa, xb, hi_level):
    if rule == RULE_BOOL:
        return ex[t]
    if rule == RULE_CROSS:
        return t > 0 and xa[t - 1] > xb[t - 1] and xa[t] < xb[t]
    return ea[t] > hi_level


@njit(cache=True, error_model="numpy")
def signal_stats(
    o,
    h,
    lo,
    c,
    rule,
    ent,
    ex,
    sent,
    sex,
    ea,
    eb,
    xa,
    xb,
    lo_level,
    hi_level,
    start,
    cash,
    fee,
    slip,
    size,
    pct,
    fill_close,
    margin,
    acc,
):
    """Simulate one signal-driven run and write its accumulators into ``acc`` (length ``ACC_COLS``)."""
    n = c.shape[0]
    st = np.zeros(_NSTATE)
    st[_CASH] = cash
    st[_SL] = np.nan
    st[_TP] = np.nan
    st[_TID] = -1.0
    st[_FEE], st[_SLIP], st[_SIZE], st[_PCT] = fee, slip, size, pct
    st[_MARGIN] = 1.0 if margin else 0.0
    st[_NEXT_ID] = 1.0
    fills = np.empty((_SCRATCH, 8))
    trades = np.empty((_SCRATCH, 10))
    rejs = np.empty((_SCRATCH, 5))
    for k in range(acc.shape[0]):
        acc[k] = 0.0
    shorts = sent.shape[0] > 0
    pend_exit, pend_entry = False, 0
    exposed = 0
    pos, money = 0.0, cash  # st[_POS], st[_CASH] mirrored in locals, re-read after every fill
    # the equity pass (spark.engine.curve.equity_pass), inline
    peak, prev = cash, cash
    scale = 100.0 / cash
    max_dd = 0.0
    peak_bar, run_bars, run_start, run_end = -1, 0, -1, -1
    shift, s1, s2, down2 = 0.0, 0.0, 0.0, 0.0
    ok = True
    for t in range(n):
        traded = False
        if not fill_close and (pend_exit or pend_entry != 0):
            if pend_exit and pos != 0.0:
                _execute(st, fills, trades, rejs, t, -pos, 0.0, o[t], 0, -1)
            if pend_entry != 0:
                _enter(st, fills, trades, rejs, t, pend_entry, o[t], 0, -1)
            pend_exit, pend_entry = False, 0
            traded = True
            pos = st[_POS]
        leave = False
        entry = 0
        if t >= start:
            if pos > 0.0:
                leave = _exit_long(rule, t, ex, ea, eb, xa, xb, hi_level)
            elif pos < 0.0:
                leave = shorts and sex[t]
            if pos == 0.0 or leave:
                if _enter_long(rule, t, ent, ea, eb, lo_level):
                    entry = 1
                elif shorts and sent[t]:
                    entry = -1
        if leave or entry != 0:
            if fill_close:
                if leave:
                    _execute(st, fills, trades, rejs, t, -pos, 0.0, c[t], 0, -1)
                if entry != 0:
                    _enter(st, fills, trades, rejs, t, entry, c[t], 0, -1)
                traded = True
            elif t != n - 1:
                pend_exit, pend_entry = leave, entry
        if traded:
            _fold(st, fills, trades, acc)
            pos, money = st[_POS], st[_CASH]
        e = money + pos * c[t]
        if pos != 0.0:
            exposed += 1
        if t == 0:
            shift = e / cash - 1.0
        if e >= peak:
            peak = e
            scale = 100.0 / peak
            peak_bar = t
        else:
            d = (peak - e) * scale
            if d > max_dd:
                max_dd = d
            if t - peak_bar > run_bars:
                run_bars, run_start, run_end = t - peak_bar, peak_bar, t
        if ok:
            r = e / prev - 1.0
            dev = r - shift
            s1 += dev
            s2 += dev * dev
            if r < 0.0:
                down2 += r * r
            if e <= 0.0:
                ok = False
        prev = e
    st[_EXPOSED] = exposed
    acc[0] = prev
    acc[8] = max_dd
    acc[9] = run_bars
    acc[10] = run_start
    acc[11] = run_end
    acc[12] = shift + s1 / n
    acc[13] = max(s2 - s1 * s1 / n, 0.0)
    acc[14] = down2
    acc[15] = 1.0 if ok else 0.0
    acc[16] = exposed
    acc[19] = 1.0 if st[_POS] != 0.0 else 0.0


def accumulate_tables(
    equity: np.ndarray, trades: np.ndarray, fills: np.ndarray, rejected: int, exposed: int, cash: float
) -> np.ndarray:
    """The same accumulators from a full simulation's outputs (the generic path for target and order intents)."""
    acc = np.zeros(ACC_COLS)
    _, max_dd, dd_bars, dd_start, dd_end, mean, m2, down2, ok = equity_pass(equity, cash)
    closed = trades[trades[:, 9] == 0.0]
    pnl = closed[:, 7]
    notional = closed[:, 2] * closed[:, 5]
    good = notional > 0
    acc[:] = (
        float(equity[-1]),
        len(closed),
        int((pnl > 0).sum()),
        float(pnl.sum()),
        float(pnl[pnl > 0].sum()),
        float(-pnl[pnl < 0].sum()),
        float((pnl[good] / notional[good]).sum()),
        int((~good).sum()),
        max_dd,
        dd_bars,
        dd_start,
        dd_end,
        mean,
        m2,
        down2,
        1.0 if ok else 0.0,
        exposed,
        float(fills[:, 4].sum()),
        rejected,
        len(trades) - len(closed),
    )
    return acc
