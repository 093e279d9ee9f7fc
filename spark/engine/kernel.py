"""The per-bar fill loop for every intent kind, compiled with numba (signal runs without risk gates take the
leaner `spark.engine.signal_kernel`, which returns exactly what this loop returns for them).

Everything path-dependent lives here (position, cash, pending orders, stop-loss/take-profit, trade bookkeeping);
everything else is vectorised numpy around it. Compiled with ``cache=True`` (the compile cost is paid once per
machine, not per process) and without ``fastmath``, so results are bit-identical run to run; ``error_model="numpy"``
only drops Python's zero-division checks (every division here has a guarded, non-zero divisor).

Per bar ``t`` the order of events is fixed: (1) market orders decided at ``t-1`` fill at ``open[t]`` (fill mode
``next_open``); (2) the position's stop-loss/take-profit; (3) the working limit/stop order; (4) the strategy's
decisions at the close of ``t`` (market orders fill at ``close[t]`` in fill mode ``close``); (5) equity is marked at
``close[t]``. Outputs are plain float64 tables (column layouts below) so no Python object is built per bar.

Kept in one file on purpose: numba's on-disk cache checks only the file that defines a compiled function, so a
kernel calling a helper from another file could keep running a stale compiled copy of it after that file changed;
every helper these kernels call is defined here (the signal-only loop, which shares none, is its own file).

Risk gates (`spark.engine.gates`, only in `run_gated`): every order counts for maxOrdersPerBar; the opening part
of an order is checked in GATE_ORDER just before its cash check (`_admit`), a violation recorded in the denied
table and, in deny mode, not filled; the account state (ACTIVE/REDUCING/HALTED) moves at (5), from the close-marked
drawdown, each change recorded in the state table. Without gates none of this runs (``st[_GATED]`` is 0).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spark.engine.triggers import LIMIT, MARKET, STOP, level_fill, protect_fill

__all__ = [
    "DEN_COLS",
    "FILL_COLS",
    "GST_COLS",
    "LIMIT",
    "MARKET",
    "ORDERS",
    "REASONS",
    "REJ_COLS",
    "SIGNALS",
    "STOP",
    "TARGET",
    "TRADE_COLS",
    "run_gated",
    "run_kernel",
]

SIGNALS, TARGET, ORDERS = 0, 1, 2  # what the strategy handed over
REASONS = ("market", "limit", "stop", "stop_loss", "take_profit")  # fill reason codes 0..4
FILL_COLS = 8  # bar, side (+1 buy / -1 sell), qty, price, fee, reason, order index (-1: none), trade id
TRADE_COLS = 10  # id, side (+1 long, -1 short), qty, entry_bar, exit_bar (-1), entry_px, exit_px, pnl, fees, open
REJ_COLS = 5  # bar, side, qty, price, order index (-1: none)
DEN_COLS = 9  # bar, gate code (GATE_ORDER), denied (1) / logged (0), side, qty, price, order index, value, limit
GST_COLS = 4  # bar, state from, state to (0 ACTIVE, 1 REDUCING, 2 HALTED), drawdown % at that close
_NG = 7  # gates; the kernel's gate params are their limits (NaN: off), then their modes (1 deny, 0 log)
_G_HALT, _G_REDUCE, _G_COOL, _G_LONG, _G_ORDERS, _G_NOTIONAL, _G_POSITION = range(_NG)
_ACTIVE, _REDUCING, _HALTED = 0.0, 1.0, 2.0

# state slots
(
    _CASH,
    _POS,
    _EQTY,
    _EVAL,
    _XQTY,
    _XVAL,
    _REAL,
    _TFEES,
    _EBAR,
    _SL,
    _TP,
    _SLTP_FROM,
    _TID,
    _ACTED,
    _PEND_EXIT,
    _PEND_ENTRY,
    _PEND_TGT,
    _P0,
    _P1,
    _WORK,
    _OI,
    _EXPOSED,
    _FEE,
    _SLIP,
    _SIZE,
    _PCT,
    _MARGIN,  # the run's options
    _NF,
    _NT,
    _NR,
    _NEXT_ID,  # rows used in the fill/trade/rejected tables; next trade id
    _GATED,  # 1.0 when the run has gates
    _GSTATE,  # account state
    _PEAK,  # running equity peak (the starting cash first)
    _DD,  # drawdown % at the last close
    _COOL,  # last bar of a cooldown (-1: none)
    _OBAR,  # the bar orders are being counted for
    _NORD,  # orders tried on that bar
    _ND,  # rows used in the denied table
    _NGS,  # rows used in the state table
    _GL,  # _NG limits, then _NG modes
) = range(41)
_GM = _GL + _NG
_NSTATE = _GM + _NG

# Explicit signatures: one compiled version per helper (literal arguments would otherwise each compile anew).
_A1, _A2 = "float64[::1]", "float64[:, ::1]"
_SIG_units = f"float64({_A1}, float64)"
_SIG_close_trade = f"void({_A1}, {_A2}, float64, float64, boolean)"
_SIG_leg = f"void({_A1}, {_A2}, {_A2}, int64, float64, float64, float64, float64, int64, int64)"
_SIG_reject = f"void({_A1}, {_A2}, int64, float64, float64, float64, int64)"
_SIG_execute = f"boolean({_A1}, {_A2}, {_A2}, {_A2}, {_A2}, int64, float64, float64, float64, int64, int64)"
_SIG_enter = f"boolean({_A1}, {_A2}, {_A2}, {_A2}, {_A2}, int64, float64, float64, int64, int64)"
_SIG_run_order = (
    f"void({_A1}, {_A2}, {_A2}, {_A2}, {_A2}, int64, int64, float64, int64, {_A1}, {_A1}, {_A1}, {_A1}, int64)"
)
_SIG_rebalance = f"void({_A1}, {_A2}, {_A2}, {_A2}, {_A2}, int64, float64, float64, boolean)"
_SIG_violation = f"boolean({_A1}, {_A2}, int64, int64, float64, float64, float64, int64, float64)"
_SIG_admit = f"boolean({_A1}, {_A2}, int64, float64, float64, float64, int64)"
_SIG_mark = f"void({_A1}, {_A2}, int64, float64)"


@njit(cache=True, error_model="numpy")
def _grow(buf, need):
    if need <= buf.shape[0]:
        return buf
    out = np.empty((max(need, 2 * buf.shape[0]), buf.shape[1]))
    out[: buf.shape[0]] = buf
    return out


@njit(_SIG_units, cache=True, error_model="numpy")
def _units(st, base):
    """Order size from the run's sizing option, evaluated at the fill (``base`` is the unslipped price)."""
    if np.isnan(st[_PCT]):
        return st[_SIZE]
    equity = st[_CASH] + st[_POS] * base
    denom = base * (1.0 + st[_SLIP]) * (1.0 + st[_FEE])
    if denom <= 0.0 or equity <= 0.0:
        return np.nan  # nothing to size from: the order is rejected
    return st[_PCT] * equity / denom


@njit(_SIG_close_trade, cache=True, error_model="numpy")
def _close_trade(st, trades, exit_bar, mark, is_open):
    i = int(st[_NT])
    side = 1.0 if st[_POS] > 0 else -1.0
    avg = st[_EVAL] / st[_EQTY]
    trades[i, 0] = st[_TID]
    trades[i, 1] = side
    trades[i, 2] = st[_EQTY]
    trades[i, 3] = st[_EBAR]
    trades[i, 4] = exit_bar
    trades[i, 5] = avg
    if is_open:
        trades[i, 6] = np.nan
        trades[i, 7] = st[_REAL] + side * (mark - avg) * abs(st[_POS]) - st[_TFEES]
    else:
        trades[i, 6] = st[_XVAL] / st[_XQTY]
        trades[i, 7] = st[_REAL] - st[_TFEES]
    trades[i, 8] = st[_TFEES]
    trades[i, 9] = 1.0 if is_open else 0.0
    st[_NT] = i + 1


@njit(_SIG_leg, cache=True, error_model="numpy")
def _leg(st, fills, trades, t, d, new_pos, price, fee, reason, order):
    """Book one fill that opens/adds to the position or reduces it without crossing zero."""
    q = abs(d)
    pos = st[_POS]
    st[_CASH] -= d * price + fee
    if pos == 0.0:
        st[_TID] = st[_NEXT_ID]
        st[_NEXT_ID] += 1
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
    i = int(st[_NF])
    fills[i, 0] = t
    fills[i, 1] = 1.0 if d > 0 else -1.0
    fills[i, 2] = q
    fills[i, 3] = price
    fills[i, 4] = fee
    fills[i, 5] = reason
    fills[i, 6] = order
    fills[i, 7] = st[_TID]
    st[_NF] = i + 1
    if new_pos == 0.0:
        _close_trade(st, trades, t, price, False)
        st[_POS] = 0.0
        st[_TID] = -1.0
        st[_SL] = np.nan
        st[_TP] = np.nan
    else:
        st[_POS] = new_pos


@njit(_SIG_reject, cache=True, error_model="numpy")
def _reject(st, rejs, t, side, q, price, order):
    i = int(st[_NR])
    rejs[i, 0] = t
    rejs[i, 1] = side
    rejs[i, 2] = q
    rejs[i, 3] = price
    rejs[i, 4] = order
    st[_NR] = i + 1


@njit(_SIG_violation, cache=True, error_model="numpy")
def _violation(st, dens, t, gate, side, q, price, order, value):
    """Record that an order met ``gate``; True when it goes on (log mode), False when it is denied."""
    deny = st[_GM + gate] != 0.0
    i = int(st[_ND])
    dens[i, 0] = t
    dens[i, 1] = gate
    dens[i, 2] = 1.0 if deny else 0.0
    dens[i, 3] = side
    dens[i, 4] = q
    dens[i, 5] = price
    dens[i, 6] = order
    dens[i, 7] = value
    dens[i, 8] = st[_GL + gate]
    st[_ND] = i + 1
    return not deny


@njit(_SIG_admit, cache=True, error_model="numpy")
def _admit(st, dens, t, d, target, price, order):
    """The risk gates on the opening part ``d`` of an order (``target``: the position after it), in GATE_ORDER.
    Every gate met is recorded; the first one in deny mode stops the order (False)."""
    side = 1.0 if d > 0 else -1.0
    q = abs(d)
    if np.isnan(target):
        target = st[_POS] + d
    lim = st[_GL : _GL + _NG]
    if st[_GSTATE] == _HALTED and not _violation(st, dens, t, _G_HALT, side, q, price, order, st[_DD]):
        return False
    if st[_GSTATE] == _REDUCING and not _violation(st, dens, t, _G_REDUCE, side, q, price, order, st[_DD]):
        return False
    if t <= st[_COOL] and not _violation(st, dens, t, _G_COOL, side, q, price, order, st[_COOL]):
        return False
    met = not np.isnan(lim[_G_LONG]) and target < 0.0
    if met and not _violation(st, dens, t, _G_LONG, side, q, price, order, target):
        return False
    met = not np.isnan(lim[_G_ORDERS]) and st[_NORD] > lim[_G_ORDERS]
    if met and not _violation(st, dens, t, _G_ORDERS, side, q, price, order, st[_NORD]):
        return False
    met = not np.isnan(lim[_G_NOTIONAL]) and q * price > lim[_G_NOTIONAL]
    if met and not _violation(st, dens, t, _G_NOTIONAL, side, q, price, order, q * price):
        return False
    held = abs(target) * price
    met = not np.isnan(lim[_G_POSITION]) and held > lim[_G_POSITION]
    return not met or _violation(st, dens, t, _G_POSITION, side, q, price, order, held)


@njit(_SIG_mark, cache=True, error_model="numpy")
def _mark(st, gst, t, e):
    """The account state at the close of ``t`` from the close-marked drawdown (computed as the stats compute it):
    HALTED at haltDrawdownPct (to the end), REDUCING at maxDrawdownPct, ACTIVE again once flat and under it."""
    if e >= st[_PEAK]:
        st[_PEAK] = e
        dd = 0.0
    else:
        dd = (st[_PEAK] - e) * (100.0 / st[_PEAK])
    st[_DD] = dd
    was = st[_GSTATE]
    now = was
    halt, reduce = st[_GL + _G_HALT], st[_GL + _G_REDUCE]
    if was != _HALTED:
        if not np.isnan(halt) and dd >= halt:
            now = _HALTED
        elif was == _ACTIVE and not np.isnan(reduce) and dd >= reduce:
            now = _REDUCING
        elif was == _REDUCING and st[_POS] == 0.0 and dd < reduce:
            now = _ACTIVE
    if now != was:
        i = int(st[_NGS])
        gst[i, 0] = t
        gst[i, 1] = was
        gst[i, 2] = now
        gst[i, 3] = dd
        st[_NGS] = i + 1
        st[_GSTATE] = now


@njit(_SIG_execute, cache=True, error_model="numpy")
def _execute(st, fills, trades, rejs, dens, t, d, target, base, reason, order):
    """Trade ``d`` units (signed) at ``base`` (slippage applied here); ``target`` (or NaN) is the exact position
    wanted afterwards. A crossing order is split: the closing leg always fills, the opening leg is checked by the
    risk gates (when the run has any) and for cash (recorded as denied / rejected when it does not pass). Returns
    False when something was denied or rejected."""
    if d == 0.0:
        return True
    if np.isnan(d):  # defensive: callers size before calling
        _reject(st, rejs, t, 1.0, 0.0, base, order)
        return False
    gated = st[_GATED] != 0.0
    if gated:
        if st[_OBAR] != t:
            st[_OBAR] = t
            st[_NORD] = 0.0
        st[_NORD] += 1.0
    pos = st[_POS]
    price = base * (1.0 + st[_SLIP]) if d > 0 else base * (1.0 - st[_SLIP])
    if np.isnan(target):
        target = pos + d
    if pos != 0.0 and (d > 0) != (pos > 0):
        if abs(d) < abs(pos):
            _leg(st, fills, trades, t, d, target, price, abs(d) * price * st[_FEE], reason, order)
            return True
        _leg(st, fills, trades, t, -pos, 0.0, price, abs(pos) * price * st[_FEE], reason, order)
        d = d + pos
        if target == 0.0 or abs(d) <= 1e-12 * abs(pos):
            return True
    if gated and not _admit(st, dens, t, d, target, price, order):
        return False
    q = abs(d)
    fee = q * price * st[_FEE]
    need = abs(target) * price
    after = st[_CASH] - d * price - fee + target * price
    if st[_MARGIN] == 0.0 and after < need - 1e-9 * need:
        _reject(st, rejs, t, 1.0 if d > 0 else -1.0, q, price, order)
        return False
    _leg(st, fills, trades, t, d, target, price, fee, reason, order)
    return True


@njit(_SIG_enter, cache=True, error_model="numpy")
def _enter(st, fills, trades, rejs, dens, t, side, base, reason, order):
    """Open (or add to) a position on ``side`` (+1/-1) sized by the run's option; rejected when unsizable."""
    q = _units(st, base)
    if np.isnan(q):
        _reject(st, rejs, t, side, 0.0, base, order)
        return False
    return _execute(st, fills, trades, rejs, dens, t, side * q, np.nan, base, reason, order)


@njit(_SIG_run_order, cache=True, error_model="numpy")
def _run_order(st, fills, trades, rejs, dens, t, k, base, reason, oside, oqty, osl, otp, sltp_from):
    pos = st[_POS]
    side = oside[k]
    q = oqty[k]
    if not np.isnan(q):
        _execute(st, fills, trades, rejs, dens, t, side * q, np.nan, base, reason, k)
    elif pos != 0.0 and (side > 0) != (pos > 0):  # no qty: exactly the opposite position
        _execute(st, fills, trades, rejs, dens, t, -pos, 0.0, base, reason, k)
    else:  # no qty: the run's sizing
        _enter(st, fills, trades, rejs, dens, t, side, base, reason, k)
    pos = st[_POS]
    if pos != 0.0 and (pos > 0) == (side > 0) and (not np.isnan(osl[k]) or not np.isnan(otp[k])):
        if not np.isnan(osl[k]):
            st[_SL] = osl[k]
        if not np.isnan(otp[k]):
            st[_TP] = otp[k]
        st[_SLTP_FROM] = sltp_from


@njit(cache=True, error_model="numpy")
def run_kernel(
    o, h, lo, c, mode, ent, ex, sent, sex, tgt, ob, oside, oqty, otype, oprice, osl, otp, cash, fee, slip, size,
    pct, fill_close, margin, per_bar,
):  # fmt: skip
    """Simulate one run without gates. Returns (equity per bar, fills, trades, rejected, bars exposed at the close)."""
    equity, fills, trades, rejs, exposed, _, _ = _run(
        o, h, lo, c, mode, ent, ex, sent, sex, tgt, ob, oside, oqty, otype, oprice, osl, otp,
        cash, fee, slip, size, pct, fill_close, margin, per_bar, np.zeros(0),
    )  # fmt: skip
    return equity, fills, trades, rejs, exposed


@njit(cache=True, error_model="numpy")
def run_gated(
    o, h, lo, c, mode, ent, ex, sent, sex, tgt, ob, oside, oqty, otype, oprice, osl, otp, cash, fee, slip, size,
    pct, fill_close, margin, per_bar, gates,
):  # fmt: skip
    """`run_kernel` with risk gates (``gates``: `spark.engine.gates.Gates.kernel_params`). Returns its outputs plus
    the denied table (DEN_COLS) and the account state changes (GST_COLS)."""
    return _run(
        o, h, lo, c, mode, ent, ex, sent, sex, tgt, ob, oside, oqty, otype, oprice, osl, otp,
        cash, fee, slip, size, pct, fill_close, margin, per_bar, gates,
    )  # fmt: skip


@njit(cache=True, error_model="numpy")
def _run(
    o, h, lo, c, mode, ent, ex, sent, sex, tgt, ob, oside, oqty, otype, oprice, osl, otp, cash, fee, slip, size,
    pct, fill_close, margin, per_bar, gates,
):  # fmt: skip
    """The bar loop runs in chunks: it stops when an output table might not hold one more bar's rows, the tables
    grow here, and the loop resumes (keeping array reassignment out of the hot loop keeps it fast)."""
    n = c.shape[0]
    equity = np.empty(n)
    st = np.zeros(_NSTATE)
    st[_CASH] = cash
    st[_SL] = np.nan
    st[_TP] = np.nan
    st[_TID] = -1.0
    st[_PEND_TGT] = np.nan
    st[_WORK] = -1.0
    st[_FEE], st[_SLIP], st[_SIZE], st[_PCT] = fee, slip, size, pct
    st[_MARGIN] = 1.0 if margin else 0.0
    st[_NEXT_ID] = 1.0
    gated = gates.shape[0] > 0
    den_room = _NG * per_bar if gated else 0  # every gate may log each order of a bar
    if gated:
        st[_GATED] = 1.0
        st[_PEAK] = cash
        st[_COOL] = -1.0
        st[_OBAR] = -1.0
        st[_GL : _GL + 2 * _NG] = gates
    cap = 256 + per_bar
    fills = np.empty((cap, FILL_COLS))
    trades = np.empty((cap, TRADE_COLS))
    rejs = np.empty((cap, REJ_COLS))
    dens = np.empty((256 + den_room if gated else 0, DEN_COLS))
    gst = np.empty((256 if gated else 0, GST_COLS))
    t = np.int64(0)
    while True:
        t = _bars(
            t,
            o,
            h,
            lo,
            c,
            mode,
            ent,
            ex,
            sent,
            sex,
            tgt,
            ob,
            oside,
            oqty,
            otype,
            oprice,
            osl,
            otp,
            fill_close,
            per_bar,
            den_room,
            st,
            fills,
            trades,
            rejs,
            dens,
            gst,
            equity,
        )
        if t >= n:
            break
        fills = _grow(fills, int(st[_NF]) + per_bar)
        trades = _grow(trades, int(st[_NT]) + per_bar)
        rejs = _grow(rejs, int(st[_NR]) + per_bar)
        if gated:
            dens = _grow(dens, int(st[_ND]) + den_room)
            gst = _grow(gst, int(st[_NGS]) + 1)
    if st[_POS] != 0.0:
        trades = _grow(trades, int(st[_NT]) + 1)
        _close_trade(st, trades, -1.0, c[n - 1], True)
    nf, nt, nr, nd, ng = int(st[_NF]), int(st[_NT]), int(st[_NR]), int(st[_ND]), int(st[_NGS])
    return (
        equity,
        fills[:nf].copy(),
        trades[:nt].copy(),
        rejs[:nr].copy(),
        int(st[_EXPOSED]),
        dens[:nd].copy(),
        gst[:ng].copy(),
    )


@njit(cache=True, error_model="numpy")
def _bars(
    t0, o, h, lo, c, mode, ent, ex, sent, sex, tgt, ob, oside, oqty, otype, oprice, osl, otp, fill_close, per_bar,
    den_room, st, fills, trades, rejs, dens, gst, equity,
):  # fmt: skip
    """Run bars from ``t0`` until the end or until a table may lack room for one more bar; return the next bar."""
    n = c.shape[0]
    shorts = sent.shape[0] > 0
    frac = not np.isnan(st[_PCT])
    n_orders = ob.shape[0]
    # loop-carried scalars live in locals here and in ``st`` between chunks
    pend_exit, pend_entry, pend_tgt = st[_PEND_EXIT] != 0.0, int(st[_PEND_ENTRY]), st[_PEND_TGT]
    p0, p1, work, oi = int(st[_P0]), int(st[_P1]), int(st[_WORK]), int(st[_OI])
    exposed = int(st[_EXPOSED])
    gated = st[_GATED] != 0.0
    cool = st[_GL + _G_COOL]
    t = t0
    while t < n:
        if (
            int(st[_NF]) + per_bar > fills.shape[0]
            or int(st[_NT]) + per_bar > trades.shape[0]
            or int(st[_NR]) + per_bar > rejs.shape[0]
            or int(st[_ND]) + den_room > dens.shape[0]
            or int(st[_NGS]) + 1 > gst.shape[0] + (0 if gated else 1)
        ):
            break
        # (1) the open: market orders decided at t-1
        if not fill_close and t > 0:
            if mode == SIGNALS:
                if pend_exit and st[_POS] != 0.0:
                    _execute(st, fills, trades, rejs, dens, t, -st[_POS], 0.0, o[t], 0, -1)
                if pend_entry != 0:
                    _enter(st, fills, trades, rejs, dens, t, pend_entry, o[t], 0, -1)
                pend_exit, pend_entry = False, 0
            elif mode == TARGET:
                if not np.isnan(pend_tgt):
                    _rebalance(st, fills, trades, rejs, dens, t, pend_tgt, o[t], frac)
                    pend_tgt = np.nan
            else:
                for k in range(p0, p1):
                    if otype[k] == MARKET:
                        _run_order(st, fills, trades, rejs, dens, t, k, o[t], 0, oside, oqty, osl, otp, t)
                p0, p1 = 0, 0
        # (2) stop-loss / take-profit on the position
        pos = st[_POS]
        if pos != 0.0 and t >= st[_SLTP_FROM] and not (np.isnan(st[_SL]) and np.isnan(st[_TP])):
            px, why = protect_fill(pos, st[_SL], st[_TP], o[t], h[t], lo[t])
            if why != 0:
                _execute(st, fills, trades, rejs, dens, t, -pos, 0.0, px, why, -1)
                if gated and why == 3 and not np.isnan(cool):  # a stop-loss exit starts the cooldown
                    st[_COOL] = t + cool
        # (3) the working limit/stop order, placed at an earlier close
        if work >= 0:
            base = level_fill(oside[work], otype[work], oprice[work], o[t], h[t], lo[t])
            if not np.isnan(base):
                _run_order(st, fills, trades, rejs, dens, t, work, base, int(otype[work]), oside, oqty, osl, otp, t + 1)
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
                    _execute(st, fills, trades, rejs, dens, t, -pos, 0.0, c[t], 0, -1)
                if entry != 0:
                    _enter(st, fills, trades, rejs, dens, t, entry, c[t], 0, -1)
            elif not last:
                pend_exit, pend_entry = leave, entry
        elif mode == TARGET:
            want = tgt[t]
            if want != (st[_ACTED] if frac else st[_POS]):
                if fill_close:
                    _rebalance(st, fills, trades, rejs, dens, t, want, c[t], frac)
                elif not last:
                    pend_tgt = want
        else:
            start = oi
            while oi < n_orders and ob[oi] == t:
                if otype[oi] == MARKET:
                    if fill_close:
                        _run_order(st, fills, trades, rejs, dens, t, oi, c[t], 0, oside, oqty, osl, otp, t + 1)
                else:
                    work = oi
                oi += 1
            if not fill_close and not last:
                p0, p1 = start, oi
        # (5) mark to market at the close
        pos = st[_POS]
        equity[t] = st[_CASH] + pos * c[t]
        if gated:
            _mark(st, gst, t, equity[t])
        if pos != 0.0:
            exposed += 1
        t += 1
    st[_PEND_EXIT] = 1.0 if pend_exit else 0.0
    st[_PEND_ENTRY] = pend_entry
    st[_PEND_TGT] = pend_tgt
    st[_P0], st[_P1], st[_WORK], st[_OI] = p0, p1, work, oi
    st[_EXPOSED] = exposed
    return t


@njit(_SIG_rebalance, cache=True, error_model="numpy")
def _rebalance(st, fills, trades, rejs, dens, t, want, base, frac):
    """Move the position to the target: units, or a fraction of equity converted to units at the fill."""
    if frac:
        desired = 0.0
        if want != 0.0:
            equity = st[_CASH] + st[_POS] * base
            denom = base * (1.0 + st[_SLIP]) * (1.0 + st[_FEE])
            desired = want * equity / denom if denom > 0.0 and equity > 0.0 else np.nan
    else:
        desired = want
    if np.isnan(desired):  # no equity to size from
        _reject(st, rejs, t, 1.0 if want > 0 else -1.0, 0.0, base, -1)
        return
    if _execute(st, fills, trades, rejs, dens, t, desired - st[_POS], desired, base, 0, -1):
        st[_ACTED] = want  # a rejected order leaves the old target, so it is tried again at the next bar
