"""The per-bar fill loop, compiled with numba: the only place the engine walks bars one by one.

Everything path-dependent lives here (position, cash, pending orders, stop-loss/take-profit, trade bookkeeping);
everything else is vectorised numpy around it. Compiled with ``cache=True`` (the compile cost is paid once per
machine, not per process) and without ``fastmath``, so results are bit-identical run to run.

Per bar ``t`` the order of events is fixed: (1) market orders decided at ``t-1`` fill at ``open[t]`` (fill mode
``next_open``); (2) the position's stop-loss/take-profit; (3) the working limit/stop order; (4) the strategy's
decisions at the close of ``t`` (market orders fill at ``close[t]`` in fill mode ``close``); (5) equity is marked at
``close[t]``. Outputs are plain float64 tables (column layouts below) so no Python object is built per bar.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["FILL_COLS", "LIMIT", "MARKET", "ORDERS", "REASONS", "REJ_COLS", "SIGNALS", "STOP", "TARGET",
           "TRADE_COLS", "run_kernel"]

SIGNALS, TARGET, ORDERS = 0, 1, 2            # what the strategy handed over
MARKET, LIMIT, STOP = 0, 1, 2                # order types
REASONS = ("market", "limit", "stop", "stop_loss", "take_profit")  # fill reason codes 0..4
FILL_COLS = 8    # bar, side (+1 buy / -1 sell), qty, price, fee, reason, order index (-1: none), trade id
TRADE_COLS = 10  # id, side (+1 long, -1 short), qty, entry_bar, exit_bar (-1), entry_px, exit_px, pnl, fees, open
REJ_COLS = 5     # bar, side, qty, price, order index (-1: none)

# state slots
_CASH, _POS, _EQTY, _EVAL, _XQTY, _XVAL, _REAL, _TFEES, _EBAR, _SL, _TP, _SLTP_FROM, _TID, _ACTED = range(14)
# config slots
_FEE, _SLIP, _SIZE, _PCT, _MARGIN = range(5)


@njit(cache=True)
def _grow(buf, need):
    if need <= buf.shape[0]:
        return buf
    out = np.empty((max(need, 2 * buf.shape[0]), buf.shape[1]))
    out[: buf.shape[0]] = buf
    return out


@njit(cache=True)
def _units(st, base, cfg):
    """Order size from the run's sizing option, evaluated at the fill (``base`` is the unslipped price)."""
    if np.isnan(cfg[_PCT]):
        return cfg[_SIZE]
    equity = st[_CASH] + st[_POS] * base
    denom = base * (1.0 + cfg[_SLIP]) * (1.0 + cfg[_FEE])
    if denom <= 0.0 or equity <= 0.0:
        return np.nan  # nothing to size from: the order is rejected
    return cfg[_PCT] * equity / denom


@njit(cache=True)
def _close_trade(st, trades, cnt, exit_bar, mark, is_open):
    i = cnt[1]
    side = 1.0 if st[_POS] > 0 else -1.0
    avg = st[_EVAL] / st[_EQTY]
    row = trades[i]
    row[0] = st[_TID]
    row[1] = side
    row[2] = st[_EQTY]
    row[3] = st[_EBAR]
    row[4] = exit_bar
    row[5] = avg
    if is_open:
        row[6] = np.nan
        row[7] = st[_REAL] + side * (mark - avg) * abs(st[_POS]) - st[_TFEES]
    else:
        row[6] = st[_XVAL] / st[_XQTY]
        row[7] = st[_REAL] - st[_TFEES]
    row[8] = st[_TFEES]
    row[9] = 1.0 if is_open else 0.0
    cnt[1] = i + 1


@njit(cache=True)
def _leg(st, cnt, fills, trades, t, d, new_pos, price, fee, reason, order):
    """Book one fill that opens/adds to the position or reduces it without crossing zero."""
    q = abs(d)
    pos = st[_POS]
    st[_CASH] -= d * price + fee
    if pos == 0.0:
        st[_TID] = cnt[3]
        cnt[3] += 1
        st[_EQTY] = q
        st[_EVAL] = q * price
        st[_XQTY] = 0.0
        st[_XVAL] = 0.0
        st[_REAL] = 0.0
        st[_TFEES] = fee
        st[_EBAR] = t
    elif (d > 0) == (pos > 0):
        st[_EQTY] += q
        st[_EVAL] += q * price
        st[_TFEES] += fee
    else:
        side = 1.0 if pos > 0 else -1.0
        st[_REAL] += side * (price - st[_EVAL] / st[_EQTY]) * q
        st[_XQTY] += q
        st[_XVAL] += q * price
        st[_TFEES] += fee
    i = cnt[0]
    row = fills[i]
    row[0] = t
    row[1] = 1.0 if d > 0 else -1.0
    row[2] = q
    row[3] = price
    row[4] = fee
    row[5] = reason
    row[6] = order
    row[7] = st[_TID]
    cnt[0] = i + 1
    if new_pos == 0.0:
        _close_trade(st, trades, cnt, t, price, False)
        st[_POS] = 0.0
        st[_TID] = -1.0
        st[_SL] = np.nan
        st[_TP] = np.nan
    else:
        st[_POS] = new_pos


@njit(cache=True)
def _reject(rejs, cnt, t, side, q, price, order):
    i = cnt[2]
    rejs[i, 0] = t
    rejs[i, 1] = side
    rejs[i, 2] = q
    rejs[i, 3] = price
    rejs[i, 4] = order
    cnt[2] = i + 1


@njit(cache=True)
def _execute(st, cnt, fills, trades, rejs, t, d, target, base, cfg, reason, order):
    """Trade ``d`` units (signed) at ``base`` (slippage applied here); ``target`` (or NaN) is the exact position
    wanted afterwards. A crossing order is split: the closing leg always fills, the opening leg is checked for cash
    (and recorded as rejected when the account cannot carry it). Returns False when something was rejected."""
    if d == 0.0:
        return True
    if np.isnan(d):  # sizing found no equity to size from
        _reject(rejs, cnt, t, 1.0, 0.0, base, order)
        return False
    pos = st[_POS]
    price = base * (1.0 + cfg[_SLIP]) if d > 0 else base * (1.0 - cfg[_SLIP])
    if np.isnan(target):
        target = pos + d
    if pos != 0.0 and (d > 0) != (pos > 0):
        if abs(d) < abs(pos):
            _leg(st, cnt, fills, trades, t, d, target, price, abs(d) * price * cfg[_FEE], reason, order)
            return True
        _leg(st, cnt, fills, trades, t, -pos, 0.0, price, abs(pos) * price * cfg[_FEE], reason, order)
        d = d + pos
        if target == 0.0 or abs(d) <= 1e-12 * abs(pos):
            return True
    q = abs(d)
    fee = q * price * cfg[_FEE]
    need = abs(target) * price
    after = st[_CASH] - d * price - fee + target * price
    if cfg[_MARGIN] == 0.0 and after < need - 1e-9 * need:
        _reject(rejs, cnt, t, 1.0 if d > 0 else -1.0, q, price, order)
        return False
    _leg(st, cnt, fills, trades, t, d, target, price, fee, reason, order)
    return True


@njit(cache=True)
def _trigger(side, typ, level, o, h, lo):
    """Base fill price of a limit/stop order on one bar, or NaN: at the level, or at the open when it gaps through."""
    if (typ == LIMIT) == (side > 0):  # buy limit / sell stop: fills at or below the level
        if o <= level:
            return o
        if lo <= level:
            return level
    else:                             # sell limit / buy stop: fills at or above the level
        if o >= level:
            return o
        if h >= level:
            return level
    return np.nan


@njit(cache=True)
def _run_order(st, cnt, fills, trades, rejs, t, k, base, cfg, reason, oside, oqty, osl, otp, sltp_from):
    pos = st[_POS]
    side = oside[k]
    if np.isnan(oqty[k]):
        q = abs(pos) if pos != 0.0 and (side > 0) != (pos > 0) else _units(st, base, cfg)
    else:
        q = oqty[k]
    _execute(st, cnt, fills, trades, rejs, t, side * q, np.nan, base, cfg, reason, k)
    pos = st[_POS]
    if pos != 0.0 and (pos > 0) == (side > 0) and (not np.isnan(osl[k]) or not np.isnan(otp[k])):
        if not np.isnan(osl[k]):
            st[_SL] = osl[k]
        if not np.isnan(otp[k]):
            st[_TP] = otp[k]
        st[_SLTP_FROM] = sltp_from


@njit(cache=True)
def _protect(st, cnt, fills, trades, rejs, t, o, h, lo, cfg):
    """Stop-loss / take-profit on the open position: a gap through either fills at the open; otherwise, when
    the bar's range touches both, the stop is assumed to come first (pessimistic)."""
    pos = st[_POS]
    sl, tp = st[_SL], st[_TP]
    has_sl, has_tp = not np.isnan(sl), not np.isnan(tp)
    if not (has_sl or has_tp):
        return
    px, why = np.nan, 3
    if pos > 0:
        if has_sl and o <= sl:
            px = o
        elif has_tp and o >= tp:
            px, why = o, 4
        elif has_sl and lo <= sl:
            px = sl
        elif has_tp and h >= tp:
            px, why = tp, 4
    else:
        if has_sl and o >= sl:
            px = o
        elif has_tp and o <= tp:
            px, why = o, 4
        elif has_sl and h >= sl:
            px = sl
        elif has_tp and lo <= tp:
            px, why = tp, 4
    if not np.isnan(px):
        _execute(st, cnt, fills, trades, rejs, t, -pos, 0.0, px, cfg, why, -1)


@njit(cache=True)
def run_kernel(o, h, lo, c, mode, ent, ex, sent, sex, tgt, ob, oside, oqty, otype, oprice, osl, otp,
               cash, fee, slip, size, pct, fill_close, margin, per_bar):
    """Simulate one run. Returns (equity per bar, fills, trades, rejected, bars exposed at the close)."""
    n = c.shape[0]
    equity = np.empty(n)
    cfg = np.array([fee, slip, size, pct, 1.0 if margin else 0.0])
    st = np.zeros(14)
    st[_CASH] = cash
    st[_SL] = np.nan
    st[_TP] = np.nan
    st[_TID] = -1.0
    cnt = np.zeros(4, np.int64)
    cnt[3] = 1
    fills = np.empty((64, FILL_COLS))
    trades = np.empty((64, TRADE_COLS))
    rejs = np.empty((64, REJ_COLS))
    shorts = sent.shape[0] > 0
    frac = not np.isnan(pct)
    exposed = 0
    pend_exit, pend_entry, pend_tgt = False, 0, np.nan
    p0, p1 = 0, 0           # emitted orders (index range) waiting for the next open
    work = -1               # the working limit/stop order
    oi = 0                  # next emitted order to look at (sorted by bar)
    n_orders = ob.shape[0]
    for t in range(n):
        fills = _grow(fills, cnt[0] + per_bar)
        trades = _grow(trades, cnt[1] + per_bar)
        rejs = _grow(rejs, cnt[2] + per_bar)
        # (1) the open: market orders decided at t-1
        if not fill_close and t > 0:
            if mode == SIGNALS:
                if pend_exit and st[_POS] != 0.0:
                    _execute(st, cnt, fills, trades, rejs, t, -st[_POS], 0.0, o[t], cfg, 0, -1)
                if pend_entry != 0:
                    _execute(st, cnt, fills, trades, rejs, t, pend_entry * _units(st, o[t], cfg), np.nan, o[t],
                             cfg, 0, -1)
                pend_exit, pend_entry = False, 0
            elif mode == TARGET:
                if not np.isnan(pend_tgt):
                    _rebalance(st, cnt, fills, trades, rejs, t, pend_tgt, o[t], cfg, frac)
                    pend_tgt = np.nan
            else:
                for k in range(p0, p1):
                    if otype[k] == MARKET:
                        _run_order(st, cnt, fills, trades, rejs, t, k, o[t], cfg, 0, oside, oqty, osl, otp, t)
                p0, p1 = 0, 0
        # (2) stop-loss / take-profit on the position
        if st[_POS] != 0.0 and t >= st[_SLTP_FROM]:
            _protect(st, cnt, fills, trades, rejs, t, o[t], h[t], lo[t], cfg)
        # (3) the working limit/stop order, placed at an earlier close
        if work >= 0:
            base = _trigger(oside[work], otype[work], oprice[work], o[t], h[t], lo[t])
            if not np.isnan(base):
                _run_order(st, cnt, fills, trades, rejs, t, work, base, cfg, int(otype[work]), oside, oqty, osl, otp,
                           t + 1)
                work = -1
        # (4) the close: the strategy's decisions at bar t
        last = t == n - 1
        if mode == SIGNALS:
            pos = st[_POS]
            leave = (pos > 0 and ex[t]) or (pos < 0 and shorts and sex[t])
            entry = 0
            if pos == 0.0 or leave:
                if ent[t]:
                    entry = 1
                elif shorts and sent[t]:
                    entry = -1
            if fill_close:
                if leave:
                    _execute(st, cnt, fills, trades, rejs, t, -pos, 0.0, c[t], cfg, 0, -1)
                if entry != 0:
                    _execute(st, cnt, fills, trades, rejs, t, entry * _units(st, c[t], cfg), np.nan, c[t], cfg, 0,
                             -1)
            elif not last:
                pend_exit, pend_entry = leave, entry
        elif mode == TARGET:
            want = tgt[t]
            if want != (st[_ACTED] if frac else st[_POS]):
                if fill_close:
                    _rebalance(st, cnt, fills, trades, rejs, t, want, c[t], cfg, frac)
                elif not last:
                    pend_tgt = want
        else:
            start = oi
            while oi < n_orders and ob[oi] == t:
                k = oi
                if otype[k] == MARKET:
                    if fill_close:
                        _run_order(st, cnt, fills, trades, rejs, t, k, c[t], cfg, 0, oside, oqty, osl, otp, t + 1)
                else:
                    work = k
                oi += 1
            if not fill_close and not last:
                p0, p1 = start, oi
        # (5) mark to market at the close
        equity[t] = st[_CASH] + st[_POS] * c[t]
        if st[_POS] != 0.0:
            exposed += 1
    if st[_POS] != 0.0:
        trades = _grow(trades, cnt[1] + 1)
        _close_trade(st, trades, cnt, -1.0, c[n - 1], True)
    return equity, fills[: cnt[0]].copy(), trades[: cnt[1]].copy(), rejs[: cnt[2]].copy(), exposed


@njit(cache=True)
def _rebalance(st, cnt, fills, trades, rejs, t, want, base, cfg, frac):
    """Move the position to the target: units, or a fraction of equity converted to units at the fill."""
    if frac:
        desired = 0.0
        if want != 0.0:
            equity = st[_CASH] + st[_POS] * base
            denom = base * (1.0 + cfg[_SLIP]) * (1.0 + cfg[_FEE])
            desired = want * equity / denom if denom > 0.0 and equity > 0.0 else np.nan
    else:
        desired = want
    if _execute(st, cnt, fills, trades, rejs, t, desired - st[_POS], desired, base, cfg, 0, -1):
        st[_ACTED] = want  # a rejected order leaves the old target, so it is tried again at the next bar
