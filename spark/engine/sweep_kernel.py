"""The batched sweep kernel: one compiled pass per parameter set that accumulates the summary stats on the fly.

No per-bar output and no trade tables: the pass keeps equity, the running peak and drawdown, the return moments
(the same shifted sums as `spark.engine.curve.equity_pass`) and trade counters, and writes one row of
accumulators (layout ``ACC_*``). A signal run only ever trades market orders, without stops or gates, and enters
from flat (an exit is booked before an entry on the same bar), so its fills are booked here in locals
(`_book_exit`, `_book_entry`) by the same arithmetic, in the same order, as the fill kernel's general helpers
(`spark.engine.kernel._execute`/`_enter`); tests check the two agree (counts and equity exactly, the running sums
to 1e-12: the table path sums with numpy's pairwise addition). Signals are evaluated inside the pass from a rule
over precomputed arrays (indicators computed once per distinct window by the caller), so no boolean array is built
per set:

- ``RULE_BOOL``: ``ent``/``ex`` (and ``sent``/``sex`` for shorts) are the signal arrays themselves;
- ``RULE_CROSS``: enter when ``ea`` crosses strictly above ``eb``, exit when ``xa`` crosses strictly below ``xb``
  (``crossed_above``/``crossed_below`` of the built-in indicators, NaN never crossing);
- ``RULE_LEVEL``: enter when ``ea < lo_level``, exit when ``ea > hi_level`` (NaN never firing).

Bars where nothing can happen (flat and waiting for an entry, or holding and waiting for the exit) are skipped
by a scan per rule (`_next_entry`, `_next_exit`) and, when holding, marked in a tight loop: only the equity moves.
``start`` masks signals before that bar (a walk-forward test window's warm-up): no decision is taken there.
Same rules as the fill kernel: ``cache=True``, no ``fastmath``, ``error_model="numpy"``; every helper a kernel
here calls is defined in this file (numba's cache checks only the defining file).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spark.engine.curve import equity_pass

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
    "denied",  # orders the risk gates denied (gated runs only, through the full kernel)
    "logged",  # gate violations logged and let through
)
ACC_COLS = len(ACC_NAMES)


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


@njit(inline="always", cache=True, error_model="numpy")
def _next_entry(rule, t, n, start, ent, sent, ea, eb, lo_level):
    """The first bar in max(t, start)..n-1 where the rule enters (long, or short when ``sent`` is given), else n.
    One tight loop per rule: the rule is tested once per scan, not once per bar."""
    j = max(t, start)
    shorts = sent.shape[0] > 0
    if rule == RULE_BOOL:
        if shorts:
            while j < n and not (ent[j] or sent[j]):
                j += 1
        else:
            while j < n and not ent[j]:
                j += 1
        return j
    if rule == RULE_CROSS:
        if j == 0:  # bar 0 never crosses, but a short signal there still enters
            if shorts and sent[0]:
                return 0
            j = 1
        while j < n:
            if ea[j] > eb[j] and ea[j - 1] < eb[j - 1]:
                return j
            if shorts and sent[j]:
                return j
            j += 1
        return n
    while j < n and not (ea[j] < lo_level or (shorts and sent[j])):
        j += 1
    return j


@njit(inline="always", cache=True, error_model="numpy")
def _next_exit(rule, t, n, start, long, ex, sex, ea, xa, xb, hi_level):
    """The first bar in max(t, start)..n-1 where the position (long when ``long``, else short) is closed, else n."""
    j = max(t, start)
    if not long:
        if sex.shape[0] == 0:
            return n
        while j < n and not sex[j]:
            j += 1
        return j
    if rule == RULE_BOOL:
        while j < n and not ex[j]:
            j += 1
        return j
    if rule == RULE_CROSS:
        if j == 0:
            j = 1
        while j < n and not (xa[j] < xb[j] and xa[j - 1] > xb[j - 1]):
            j += 1
        return j
    while j < n and not ea[j] > hi_level:
        j += 1
    return j


@njit(cache=True, error_model="numpy")
def _book_exit(cash, pos, eqty, evalv, real, tfees, base, slip, fee):
    """Close the whole position at ``base`` (slippage against the trader): `_execute` with ``d = -pos``, target
    0, as `_leg` books it. Returns (cash, fee of the fill, the trade's pnl net of fees, its entry notional)."""
    price = base * (1.0 + slip) if -pos > 0 else base * (1.0 - slip)
    paid = abs(pos) * price * fee
    q = abs(-pos)
    cash -= -pos * price + paid
    side = 1.0 if pos > 0 else -1.0
    real += side * (price - evalv / eqty) * q
    tfees += paid
    return cash, paid, real - tfees, eqty * (evalv / eqty)


@njit(cache=True, error_model="numpy")
def _book_entry(cash, side, base, slip, fee, size, pct, margin):
    """Open a position on ``side`` from flat, sized by the run's option: `_enter` then `_execute` as they book
    it. Returns (filled, cash, position, entry qty, entry value, fee); not filled is a rejection."""
    pos = 0.0
    if np.isnan(pct):
        q = size
    else:
        equity = cash + pos * base
        denom = base * (1.0 + slip) * (1.0 + fee)
        q = np.nan if denom <= 0.0 or equity <= 0.0 else pct * equity / denom
    if np.isnan(q):
        return False, cash, pos, 0.0, 0.0, 0.0
    d = side * q
    if d == 0.0:  # nothing to trade: no fill, not a rejection
        return True, cash, pos, 0.0, 0.0, 0.0
    price = base * (1.0 + slip) if d > 0 else base * (1.0 - slip)
    target = pos + d
    q = abs(d)
    paid = q * price * fee
    need = abs(target) * price
    after = cash - d * price - paid + target * price
    if not margin and after < need - 1e-9 * need:
        return False, cash, pos, 0.0, 0.0, 0.0
    cash -= d * price + paid
    return True, cash, target, q, q * price, paid


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
    shorts = sent.shape[0] > 0
    pend_exit, pend_entry = False, 0
    exposed = 0
    pos, money = 0.0, cash
    eqty, evalv, real, tfees = 0.0, 0.0, 0.0, 0.0  # the open trade: entry qty and value, realised pnl, fees
    closed, wins, sum_pnl, gross_win, gross_loss, sum_ratio, bad = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    fees, rejected = 0.0, 0.0
    # the equity pass (spark.engine.curve.equity_pass), inline
    peak, prev = cash, cash
    scale = 100.0 / cash
    max_dd = 0.0
    peak_bar, run_bars, run_start, run_end = -1, 0, -1, -1
    shift, s1, s2, down2 = 0.0, 0.0, 0.0, 0.0
    ok = True
    t = 0
    while t < n:
        leave = False
        entry = 0
        # step 0: market orders decided at t-1 fill at the open; step 1: the strategy decides at the close (and
        # its orders fill there in fill mode close). Each step books an exit, then an entry, at its ``base``.
        for step in range(2):
            if step == 0:
                if fill_close or not (pend_exit or pend_entry != 0):
                    continue
                leave, entry = pend_exit and pos != 0.0, pend_entry
                pend_exit, pend_entry = False, 0
                base = o[t]
            else:
                leave, entry = False, 0
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
                if not fill_close:
                    if (leave or entry != 0) and t != n - 1:
                        pend_exit, pend_entry = leave, entry
                    continue
                base = c[t]
            if leave:
                money, paid, pnl, notional = _book_exit(money, pos, eqty, evalv, real, tfees, base, slip, fee)
                pos = 0.0
                fees += paid
                closed += 1.0
                if pnl > 0.0:
                    wins += 1.0
                    gross_win += pnl
                elif pnl < 0.0:
                    gross_loss -= pnl
                sum_pnl += pnl
                if notional > 0.0:
                    sum_ratio += pnl / notional
                else:
                    bad += 1.0
            if entry != 0:
                filled, money, pos, eqty, evalv, paid = _book_entry(
                    money, float(entry), base, slip, fee, size, pct, margin
                )
                if filled:
                    real, tfees = 0.0, paid
                    fees += paid
                else:
                    rejected += 1.0
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
        t += 1
        if pend_exit or pend_entry != 0 or t >= n:
            continue
        # Fast-forward through bars where nothing can happen (exact: the same sums in the same order).
        if pos == 0.0 and shift == 0.0:
            # flat and waiting: equity stays `money` == prev, every return is 0 and adds 0 to the sums
            j = _next_entry(rule, t, n, start, ent, sent, ea, eb, lo_level)
            if j > t:
                last = j - 1
                if money >= peak:
                    peak_bar = last
                elif last - peak_bar > run_bars:
                    run_bars, run_start, run_end = last - peak_bar, peak_bar, last
                t = j
        elif pos != 0.0:
            # in a position and waiting for the exit: only the equity moves
            j = _next_exit(rule, t, n, start, pos > 0.0, ex, sex, ea, xa, xb, hi_level)
            exposed += j - t
            for k in range(t, j):
                e = money + pos * c[k]
                if e >= peak:
                    peak = e
                    scale = 100.0 / peak
                    peak_bar = k
                else:
                    d = (peak - e) * scale
                    if d > max_dd:
                        max_dd = d
                    if k - peak_bar > run_bars:
                        run_bars, run_start, run_end = k - peak_bar, peak_bar, k
                if ok:
                    r = e / prev - 1.0
                    dev = r - shift
                    s1 += dev
                    s2 += dev * dev
                    m = r if r < 0.0 else 0.0  # branchless (a coin flip per bar); adding 0.0 changes nothing
                    down2 += m * m
                    if e <= 0.0:
                        ok = False
                prev = e
            t = j
    acc[0], acc[1], acc[2], acc[3], acc[4], acc[5] = prev, closed, wins, sum_pnl, gross_win, gross_loss
    acc[6], acc[7], acc[8], acc[9], acc[10], acc[11] = sum_ratio, bad, max_dd, run_bars, run_start, run_end
    acc[12], acc[13], acc[14] = shift + s1 / n, max(s2 - s1 * s1 / n, 0.0), down2
    acc[15], acc[16], acc[17], acc[18] = 1.0 if ok else 0.0, exposed, fees, rejected
    acc[19], acc[20], acc[21] = 1.0 if pos != 0.0 else 0.0, 0.0, 0.0  # open at the end; no gates here


def accumulate_tables(
    equity: np.ndarray,
    trades: np.ndarray,
    fills: np.ndarray,
    rejected: int,
    exposed: int,
    cash: float,
    denied: np.ndarray | None = None,
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
        0 if denied is None else int((denied[:, 2] == 1.0).sum()),
        0 if denied is None else int((denied[:, 2] == 0.0).sum()),
    )
    return acc
