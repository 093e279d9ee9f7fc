// The Live view: paper-trading sessions (#/live) and one session (#/live/<id>), kept live by SSE `event: live`.
//
// The list shows every session with its feed status badge (connected / reconnecting / stale / REST fallback /
// closed / failed), bars, equity, position and trades; a session's page draws its price candles building in real
// time with a marker per fill, and its equity line, from GET /api/live/<id> and then each `live` event (the candles,
// fills and equity it carries are appended; the trades replace those with the same id; a correction the series took
// redraws its candle with the exchange's prices, and the facts count corrections taken and kept). The Stop button stays
// visible and says why when it cannot be used (no token); the server decides (admin only, audited live.stop).

import { ApiError, api, getToken, onTokenChange } from './api.js';
import { fmtTime, h } from './format.js';
import { toast } from './toast.js';

export const SESSION_ID = /^lv-[0-9]{13}-[0-9a-f]{8}$/;
const REFRESH_MS = 5000;
const POINTS = 2000;
// feed state -> the header badge's look (badge-connected / badge-reconnecting / badge-offline in style.css)
const BADGE = {
  connected: 'connected', connecting: 'connecting', reconnecting: 'reconnecting', stale: 'reconnecting',
  rest_fallback: 'reconnecting', failed: 'offline', closed: 'offline',
};
const FEED_WORDS = { rest_fallback: 'REST fallback' };

/** The badge of a session's feed: its state in words, coloured as the stream badge is. */
export function feedBadge(session) {
  const state = (session.feed && session.feed.state) || (session.status === 'running' ? 'connecting' : 'closed');
  return h(`span.badge.feed.badge-${BADGE[state] || 'offline'}`, { dataset: { feed: state }, title: (session.feed && session.feed.detail) || '' },
    FEED_WORDS[state] || state);
}

const money = (v) => (v === null || v === undefined ? '—' : v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
const price = (v) => (v === null || v === undefined ? '—' : String(Number(v.toPrecision(8))));
const signed = (v) => (v ? `${v > 0 ? '+' : '−'}${Math.abs(v)}` : '0');

function row(s) {
  const stats = s.stats || {};
  return h('tr', { dataset: { id: s.id, status: s.status } },
    h('td', {}, h('a', { href: `#/live/${s.id}` }, s.id)),
    h('td', {}, s.pair), h('td', {}, s.timeframe), h('td', {}, s.strategy), h('td', {}, s.exchange),
    h('td', {}, h(`span.status.status-${s.status}`, {}, s.status)), h('td', {}, feedBadge(s)),
    h('td.num', {}, String(s.bars ?? 0)), h('td.num', {}, money(s.equity)), h('td.num', {}, signed(s.position)),
    h('td.num', {}, String(stats.totalTrades ?? 0)), h('td', {}, fmtTime(s.startedAt)));
}

/** #/live: every session, newest first. */
export function sessionsView(main, { live } = {}) {
  const body = h('tbody');
  const table = h('table.sessions', { 'aria-label': 'Live sessions' },
    h('thead', {}, h('tr', {}, ['Session', 'Pair', 'Timeframe', 'Strategy', 'Exchange', 'Status', 'Feed', 'Bars', 'Equity', 'Position', 'Trades', 'Started']
      .map((t) => h('th', {}, t)))), body);
  const empty = h('p.muted.empty', {}, 'No live sessions yet: start one with POST /api/live/start or try `spark live` in a terminal.');
  const note = h('p.muted', { 'aria-live': 'polite' });
  main.replaceChildren(h('h1', { tabIndex: -1 }, 'Live sessions'), note, table, empty);
  let stopped = false;
  let timer = null;
  const sessions = new Map();

  function render() {
    const list = [...sessions.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
    body.replaceChildren(...list.map(row));
    empty.hidden = list.length > 0;
    table.hidden = list.length === 0;
    main.dataset.sessions = String(list.length);
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const doc = await api('/api/live');
      if (stopped) return;
      sessions.clear();
      for (const s of doc.sessions || []) sessions.set(s.id, s);
      note.textContent = '';
      render();
    } catch (err) {
      note.textContent = `Cannot read the sessions: ${err.message}`;
    } finally {
      if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  const onEvent = (ev) => {
    if (!ev.detail || ev.detail.kind !== 'live' || !ev.detail.data.session) return;
    const { serverTime: _, ...session } = ev.detail.data.session;
    sessions.set(session.id, session);
    render();
  };
  if (live) live.addEventListener('server-event', onEvent);
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (live) live.removeEventListener('server-event', onEvent);
  };
}

/** #/live/<id>: the session's candles building, its fills as markers, its equity, its trades. */
/** The exchange's corrections of the session's candles, when there were any: taken, or kept (a fill stood on ours). */
function corrections(counts) {
  const applied = (counts && counts.applied) || 0;
  const kept = (counts && counts.kept) || 0;
  if (!applied && !kept) return '';
  return h('span.corrections', { dataset: { applied: String(applied), kept: String(kept) },
    title: 'Candles the exchange reconciled: taken into the series, or kept as ours where a fill already stood on them' },
  ` · exchange corrections: ${applied} taken, ${kept} kept`);
}

export function sessionView(main, { live, params } = {}) {
  const id = params.id;
  const title = h('h1', { tabIndex: -1 }, `Live session ${id}`);
  const facts = h('p.facts');
  const stopButton = h('button.danger', { type: 'button', id: 'live-stop' }, 'Stop');
  const why = h('span.muted.why');
  const box = h('div.live-chart', { dataset: { drawn: 'false', candles: '0', markers: '0' } });
  const credit = h('p.muted.credit');
  const trades = h('tbody');
  main.replaceChildren(h('p.crumbs', {}, h('a', { href: '#/live' }, '← All sessions')), title, facts,
    h('p', {}, stopButton, ' ', why), box, credit,
    h('section', { 'aria-labelledby': 'live-trades' }, h('h2', { id: 'live-trades' }, 'Trades'),
      h('table.trades', { 'aria-label': 'Session trades' },
        h('thead', {}, h('tr', {}, ['#', 'Side', 'Qty', 'Entry', 'Exit', 'PnL', 'Open'].map((t) => h('th', {}, t)))), trades)));
  let session = null;
  let stopped = false;
  let charts = null;
  let panes = null;
  const s = {};
  const candles = [];
  const equity = [];
  const markers = [];
  const tradeMap = new Map();
  let pending = [];

  function showSession() {
    const stats = session.stats || {};
    facts.replaceChildren(
      h(`span.status.status-${session.status}`, { dataset: { status: session.status } }, session.status), ' ', feedBadge(session),
      ` ${session.strategy} ${JSON.stringify(session.params)} on ${session.exchange} ${session.pair} ${session.timeframe}`,
      ` · ${session.bars ?? 0} bars · equity ${money(session.equity)} · position ${signed(session.position)} · trades ${stats.totalTrades ?? 0}`,
      corrections(session.corrections),
      session.override ? h('span.override', {}, ` · override: ${session.override.reason}`) : '',
      session.error ? h('span.error', {}, ` · ${session.error}`) : '');
    main.dataset.status = session.status;
    const reason = session.status !== 'running' ? `The session is ${session.status}.`
      : !getToken() ? 'Enter the admin token (top right) to stop it.' : '';
    stopButton.disabled = Boolean(reason);
    why.textContent = reason;
  }

  function showTrades() {
    const list = [...tradeMap.values()].sort((a, b) => b.id - a.id);
    trades.replaceChildren(...list.map((t) => h('tr', { dataset: { trade: String(t.id) } },
      h('td.num', {}, String(t.id)), h('td', {}, t.side), h('td.num', {}, String(t.qty)),
      h('td.num', {}, price(t.entryPrice)), h('td.num', {}, price(t.exitPrice)),
      h('td.num', {}, money(t.pnl)), h('td', {}, t.open ? 'open' : ''))));
  }

  function markerOf(fill) {
    const c = charts.themeColors();
    const buy = fill.side === 'buy';
    return { time: charts.seconds(fill.ts), position: buy ? 'belowBar' : 'aboveBar', shape: buy ? 'arrowUp' : 'arrowDown',
      color: buy ? c.series1 : c.series2, text: buy ? 'B' : 'S' };
  }

  /** Fold one answer or event in: candles, equity and fills appended (newer than what is drawn), trades by id. */
  function fold(doc) {
    const last = candles.length ? candles[candles.length - 1].time : -Infinity;
    const fresh = (doc.candles || []).map((k) => ({ time: charts.seconds(k[0]), open: k[1], high: k[2], low: k[3], close: k[4] }))
      .filter((k) => k.time > last);
    const lastEq = equity.length ? equity[equity.length - 1].time : -Infinity;
    const freshEq = (doc.equity || []).map(([t, v]) => ({ time: charts.seconds(t), value: v })).filter((p) => p.time > lastEq);
    for (const k of fresh) { candles.push(k); s.candles.api.update(k); }
    for (const p of freshEq) { equity.push(p); s.equity.api.update(p); }
    const seen = new Set(markers.map((m) => `${m.time}${m.text}`));
    for (const fill of doc.fills || []) {
      const m = markerOf(fill);
      if (!seen.has(`${m.time}${m.text}`)) markers.push(m);
    }
    if ((doc.fills || []).length) s.candles.markers([...markers].sort((a, b) => a.time - b.time));
    for (const t of doc.trades || []) tradeMap.set(t.id, t);
    box.dataset.candles = String(candles.length);
    box.dataset.markers = String(markers.length);
    box.dataset.lastTime = String(candles.length ? candles[candles.length - 1].time : 0);
  }

  /** An exchange correction the series took: its candle redrawn with the exchange's prices. */
  function correct(record) {
    if (!record || !record.applied) return;
    const time = charts.seconds(record.ts);
    const at = candles.findIndex((k) => k.time === time);
    if (at < 0) return;
    const [open, high, low, close] = record.exchange;
    candles[at] = { time, open, high, low, close };
    s.candles.api.setData(candles); // an earlier bar: update() only takes the last one
  }

  const onEvent = (ev) => {
    if (!ev.detail || ev.detail.kind !== 'live' || !ev.detail.data.session || ev.detail.data.session.id !== id) return;
    if (!panes) { pending.push(ev.detail.data); return; } // before the first answer: kept, folded in after it
    session = ev.detail.data.session;
    fold(ev.detail.data);
    correct(ev.detail.data.correction);
    showSession();
    showTrades();
  };
  if (live) live.addEventListener('server-event', onEvent);
  const offToken = onTokenChange(() => session && showSession());

  stopButton.addEventListener('click', async () => {
    if (!window.confirm(`Stop live session ${id}?`)) return;
    try {
      const answer = await api(`/api/live/stop/${encodeURIComponent(id)}`, { method: 'DELETE', admin: true });
      toast(`${id}: ${answer.status}.`, 'ok');
    } catch (err) {
      toast(`Stop refused: ${err.message}`, 'error');
    }
  });

  (async () => {
    try {
      const [doc, lib] = await Promise.all([api(`/api/live/${encodeURIComponent(id)}?points=${POINTS}`), import('./charts.js')]);
      if (stopped) return;
      charts = lib;
      credit.textContent = charts.ATTRIBUTION;
      session = doc.session;
      const c = charts.themeColors();
      panes = charts.createPanes(box);
      s.candles = panes.add('price', { height: 320, title: `${session.pair} ${session.timeframe}`, timeAxis: false }).candles({});
      s.equity = panes.add('equity', { height: 160, title: 'Equity', timeAxis: true })
        .line({ color: c.series1, title: 'Equity', priceFormat: { type: 'price', precision: 2, minMove: 0.01 } });
      fold(doc);
      for (const event of pending) { session = event.session; fold(event); correct(event.correction); }
      pending = [];
      panes.fit();
      showSession();
      showTrades();
      box.dataset.drawn = 'true';
    } catch (err) {
      if (stopped) return;
      const text = err instanceof ApiError && err.status === 404 ? `No live session ${id}.` : `Cannot read the session: ${err.message}`;
      main.replaceChildren(h('p.crumbs', {}, h('a', { href: '#/live' }, '← All sessions')), h('h1', { tabIndex: -1 }, 'Live session'), h('p.error.notfound', {}, text));
    }
  })();

  return () => {
    stopped = true;
    offToken();
    if (live) live.removeEventListener('server-event', onEvent);
    if (panes) panes.destroy();
  };
}
