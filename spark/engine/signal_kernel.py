"""The fill loop for the commonest run, signal arrays without risk gates, with its bookkeeping in locals.

`spark.engine.kernel` handles every intent kind through shared helpers that keep the run's state in an array and
grow its tables as they fill. Signals need little of that: an exit always closes the whole position at once, an
entry always opens from flat, and there is no stop-loss, take-profit or working order. So here the same
arithmetic, in the same order, runs on local scalars, and the fill and trade tables are sized once from the
signal counts (a position is opened on a bar with an entry signal, and after the first only once an exit signal
has closed the one before; every exit fill closes one; every refusal refuses one entry signal): no growth, no
copies, and rows never written are never touched, so they cost no memory. (Growing a table inside the loop,
even on its rare refusal branch, made numba's loop 3x slower.) `run_signals` returns exactly (bit for bit)
what `kernel.run_kernel` returns for a signal intent; ``tests/engine/test_signal_kernel.py`` compares the two on
random signals under every option.

Same compile rules as the fill kernel: ``cache=True``, no ``fastmath``, ``error_model="numpy"``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spark.engine.kernel import FILL_COLS, REJ_COLS, TRADE_COLS

__all__ = ["run_signals"]


@njit(inline="always", cache=True)
def _fill_row(fills, i, t, d, q, price, paid, tid):
    """A market fill's row (kernel.FILL_COLS: reason market, no order index)."""
    fills[i, 0] = t
    fills[i, 1] = 1.0 if d > 0 else -1.0
    fills[i, 2] = q
    fills[i, 3] = price
    fills[i, 4] = paid
    fills[i, 5] = 0.0
    fills[i, 6] = -1.0
    fills[i, 7] = tid


@njit(cache=True, error_model="numpy")
def run_signals(o, c, ent, ex, sent, sex, cash, fee, slip, size, pct, fill_close, margin):
    """Simulate one signal run without gates: (equity per bar, fills, trades, rejected, bars exposed at the
    close), the tables in `spark.engine.kernel`'s layouts (views of their used rows). ``sent``/``sex`` are empty
    for a long-only run. Each fill is booked as `kernel._execute` -> `kernel._leg` (-> `kernel._close_trade`)
    books it, expression for expression."""
    n = c.shape[0]
    shorts = sent.shape[0] > 0
    sized = np.isnan(pct)
    entries = np.count_nonzero(ent) + (np.count_nonzero(sent) if shorts else 0)
    exits = np.count_nonzero(ex) + (np.count_nonzero(sex) if shorts else 0)
    opened = min(entries, exits + 1)  # positions opened: the first, then one after each exit at most
    equity = np.empty(n)
    fills = np.empty((2 * opened, FILL_COLS))
    trades = np.empty((opened, TRADE_COLS))
    rejs = np.empty((entries, REJ_COLS))  # each refusal refuses one entry signal (rows never written cost nothing)
    money, pos = cash, 0.0
    eqty, evalv, xqty, xval, real, tfees = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0  # the open trade
    ebar, tid, next_id = 0.0, -1.0, 1.0
    nf, nt, nr = 0, 0, 0
    pend_exit, pend_entry = False, 0
    exposed = 0
    for t in range(n):
        if pend_exit or pend_entry != 0 or ent[t] or ex[t] or (shorts and (sent[t] or sex[t])):
            # step 0 fills at the open what was decided at t-1; step 1 decides at the close (and fills there in
            # fill mode close). Each step books an exit, then an entry, at its base price.
            for step in range(2):
                if step == 0:
                    if fill_close or t == 0:
                        continue
                    leave, entry = pend_exit and pos != 0.0, pend_entry
                    pend_exit, pend_entry = False, 0
                    base = o[t]
                else:
                    leave = (pos > 0 and ex[t]) or (pos < 0 and shorts and sex[t])
                    entry = 0
                    if pos == 0.0 or leave:
                        if ent[t]:
                            entry = 1
                        elif shorts and sent[t]:
                            entry = -1
                    if not fill_close:
                        if t != n - 1:
                            pend_exit, pend_entry = leave, entry
                        continue
                    base = c[t]
                if leave:  # the whole position at base: d = -pos, target 0
                    d = -pos
                    price = base * (1.0 + slip) if d > 0 else base * (1.0 - slip)
                    paid = abs(pos) * price * fee
                    q = abs(d)
                    money -= d * price + paid
                    side = 1.0 if pos > 0 else -1.0
                    real += side * (price - evalv / eqty) * q
                    xqty += q
                    xval += q * price
                    tfees += paid
                    _fill_row(fills, nf, t, d, q, price, paid, tid)
                    nf += 1
                    trades[nt, 0] = tid
                    trades[nt, 1] = side
                    trades[nt, 2] = eqty
                    trades[nt, 3] = ebar
                    trades[nt, 4] = t
                    trades[nt, 5] = evalv / eqty
                    trades[nt, 6] = xval / xqty
                    trades[nt, 7] = real - tfees
                    trades[nt, 8] = tfees
                    trades[nt, 9] = 0.0
                    nt += 1
                    pos = 0.0
                    tid = -1.0
                if entry != 0:  # from flat, sized by the run's option (kernel._enter -> _units)
                    if sized:
                        q = size
                    else:
                        value = money + pos * base
                        denom = base * (1.0 + slip) * (1.0 + fee)
                        q = np.nan if denom <= 0.0 or value <= 0.0 else pct * value / denom
                    if np.isnan(q):
                        rejs[nr, 0] = t
                        rejs[nr, 1] = entry
                        rejs[nr, 2] = 0.0
                        rejs[nr, 3] = base
                        rejs[nr, 4] = -1.0
                        nr += 1
                        continue
                    d = entry * q
                    if d == 0.0:
                        continue
                    price = base * (1.0 + slip) if d > 0 else base * (1.0 - slip)
                    target = pos + d
                    q = abs(d)
                    paid = q * price * fee
                    need = abs(target) * price
                    after = money - d * price - paid + target * price
                    if not margin and after < need - 1e-9 * need:
                        rejs[nr, 0] = t
                        rejs[nr, 1] = 1.0 if d > 0 else -1.0
                        rejs[nr, 2] = q
                        rejs[nr, 3] = price
                        rejs[nr, 4] = -1.0
                        nr += 1
                        continue
                    if nt >= trades.shape[0] or nf + 2 > fills.shape[0]:  # room for this trade and both its fills
                        raise RuntimeError("signal kernel: the tables sized from the signal counts are full")
                    money -= d * price + paid
                    tid = next_id
                    next_id += 1
                    eqty, evalv, xqty, xval, real, tfees, ebar = q, q * price, 0.0, 0.0, 0.0, paid, t
                    _fill_row(fills, nf, t, d, q, price, paid, tid)
                    nf += 1
                    pos = target
        equity[t] = money + pos * c[t]
        if pos != 0.0:
            exposed += 1
    if pos != 0.0:  # open at the end: marked at the last close, no exit fee (kernel._close_trade, is_open)
        side = 1.0 if pos > 0 else -1.0
        avg = evalv / eqty
        trades[nt, 0] = tid
        trades[nt, 1] = side
        trades[nt, 2] = eqty
        trades[nt, 3] = ebar
        trades[nt, 4] = -1.0
        trades[nt, 5] = avg
        trades[nt, 6] = np.nan
        trades[nt, 7] = real + side * (c[n - 1] - avg) * abs(pos) - tfees
        trades[nt, 8] = tfees
        trades[nt, 9] = 1.0
        nt += 1
    return equity, fills[:nf], trades[:nt], rejs[:nr], exposed
