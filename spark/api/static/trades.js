// The trades table of a report: pages of GET /api/backtest/<id>/trades, sorted by the server (any column, both
// ways), with each trade's return % and duration. Prices show the instrument's precision, money two decimals; on a
// phone each trade is a card (CSS: the cells stack, each with its label).

import { api, routes } from './api.js';
import { fmtDuration, fmtTime, h } from './format.js';

export const PAGE = 25;

const money = (v) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '—');
const signedMoney = (v) => (Number.isFinite(v) ? `${v > 0 ? '+' : v < 0 ? '−' : ''}${money(Math.abs(v))}` : '—');
const price = (d) => (v) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');
const pct = (v) => (Number.isFinite(v) ? `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toFixed(2)} %` : '—');
const qty = (v) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 8 }) : '—');

/** The columns: wire name (the server's sort key), label, how a value is shown, whether it is a number. */
export function tradeColumns(decimals) {
  const p = price(decimals);
  return [
    { key: 'id', label: '#', show: (v) => String(v), num: true },
    { key: 'side', label: 'Side', show: (v, t) => (t.open ? `${v} (open)` : v) },
    { key: 'qty', label: 'Quantity', show: qty, num: true },
    { key: 'entryTs', label: 'Entry time', show: fmtTime },
    { key: 'entryPrice', label: 'Entry price', show: p, num: true },
    { key: 'exitTs', label: 'Exit time', show: (v, t) => (t.open ? 'open' : fmtTime(v)) },
    { key: 'exitPrice', label: 'Exit price', show: (v, t) => (t.open && !Number.isFinite(v) ? '—' : p(v)), num: true },
    { key: 'returnPct', label: 'Return', show: pct, num: true, tone: true },
    { key: 'durationMs', label: 'Duration', show: (v) => (Number.isFinite(v) ? fmtDuration(v) : '—'), num: true },
    { key: 'pnl', label: 'PnL', show: signedMoney, num: true, tone: true },
    { key: 'fees', label: 'Fees', show: money, num: true },
  ];
}

export function tradesTable({ id, decimals = 2, signal }) {
  const columns = tradeColumns(decimals);
  const wrap = h('div.trades');
  let sort = 'id';
  let page = 0;
  let total = 0;
  let seq = 0;
  const ths = columns.map((c) => h(`th${c.num ? '.num' : ''}`, { scope: 'col', 'aria-sort': c.key === 'id' ? 'ascending' : 'none', dataset: { key: c.key } },
    h('button.sort', { type: 'button', onclick: () => sortBy(c.key) }, c.label)));
  const tbody = h('tbody');
  const pageInfo = h('span.muted', { 'aria-live': 'polite' });
  const prev = h('button.btn.btn-small', { type: 'button', onclick: () => go(page - 1) }, 'Previous');
  const next = h('button.btn.btn-small', { type: 'button', onclick: () => go(page + 1) }, 'Next');
  const error = h('p.form-error', { hidden: true, role: 'alert' });
  const table = h('table.data.trade-list', {}, h('caption.sr-only', {}, 'Trades of this run'), h('thead', {}, h('tr', {}, ths)), tbody);
  wrap.append(h('div.table-wrap', {}, table), h('div.pager', {}, prev, pageInfo, next), error);
  const pages = () => Math.max(1, Math.ceil(total / PAGE));

  async function load() {
    const token = ++seq;
    wrap.dataset.loading = 'true';
    try {
      const answer = await api(routes.trades(id, { sort, limit: PAGE, offset: page * PAGE }), { signal });
      if (token !== seq) return; // a newer page or order was asked for
      total = answer.total;
      if (!total) {
        wrap.replaceChildren(h('p.muted', {}, 'No trades in this run.'));
        return;
      }
      tbody.replaceChildren(...answer.trades.map((t) => h('tr', { dataset: { trade: String(t.id) } }, columns.map((c) => {
        const v = t[c.key];
        const tone = c.tone && Number.isFinite(v) ? (v > 0 ? '.gain' : v < 0 ? '.loss' : '') : '';
        return h(`td${c.num ? '.num' : ''}${tone}`, { dataset: { label: c.label, key: c.key } }, c.show(v, t));
      }))));
      pageInfo.textContent = `Page ${page + 1} of ${pages()} · ${total.toLocaleString('en-US')} trades`;
      prev.disabled = page === 0;
      next.disabled = page >= pages() - 1;
      error.hidden = true;
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      error.hidden = false;
      error.textContent = `Could not load the trades: ${err.message}`;
    } finally {
      if (token === seq) wrap.dataset.loading = 'false';
    }
  }

  function go(p) {
    page = Math.max(0, Math.min(pages() - 1, p));
    load();
  }

  function sortBy(key) {
    sort = sort === key ? `-${key}` : key;
    ths.forEach((th) => th.setAttribute('aria-sort', th.dataset.key !== key ? 'none' : sort.startsWith('-') ? 'descending' : 'ascending'));
    page = 0;
    load();
  }

  load();
  return wrap;
}
