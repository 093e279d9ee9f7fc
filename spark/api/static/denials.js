// A gated run's risk-gate card in the report: the gates as sentences, the account's state changes (ACTIVE,
// REDUCING, HALTED), and the orders the gates denied or logged as a paged table (GET /api/backtest/<id>/denied,
// filtered by gate on the server). The first page of up to 1,000 rows also goes to the chart as markers.

import { api, query } from './api.js';
import { fmtTime, h, humanize } from './format.js';

export const PAGE = 25;
export const CHART_ROWS = 1000; // the route's largest page: what the chart marks

export const deniedRoute = (id, { limit, offset, gate } = {}) => `/api/backtest/${encodeURIComponent(id)}/denied${query({ limit, offset, gate })}`;

const num = (d) => (v) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d }) : '—');

/** One gate as a sentence: "Max position notional: 4,000 (orders over it are denied)". */
export function gateSentence(name, gate) {
  const value = gate && typeof gate === 'object' ? gate.value : gate;
  const mode = gate && typeof gate === 'object' ? gate.onViolation : 'deny';
  const shown = typeof value === 'boolean' ? (value ? 'on' : 'off') : num(4)(Number(value));
  return `${humanize(name)}: ${shown} (${mode === 'log' ? 'violations are logged, the order still fills' : 'violating orders are denied'})`;
}

/** The first page, fetched once for the card and the chart; `gates` is null for a run without risk gates. */
export function firstPage(id, signal) {
  return api(deniedRoute(id, { limit: CHART_ROWS }), { signal });
}

/** The card for `first` (an answer of the route); null when the run has no gates. */
export function denialsCard({ id, first, decimals = 2, signal }) {
  if (!first || !first.gates) return null;
  const price = num(decimals);
  const card = h('section.card.denials', { 'aria-labelledby': 'denials-title' }, h('h2', { id: 'denials-title' }, 'Risk gates'));
  const names = Object.keys(first.gates);
  card.append(h('ul.gate-list', {}, names.map((name) => h('li', { dataset: { gate: name } }, gateSentence(name, first.gates[name])))));
  const states = first.gateStates || [];
  card.append(states.length
    ? h('ol.gate-states', {}, states.map((s) => h('li', {}, `${fmtTime(s.ts)}: ${s.from} → ${s.to} (drawdown ${Number(s.drawdownPct).toFixed(2)} %)`)))
    : h('p.muted', {}, 'The account stayed ACTIVE for the whole run.'));
  const summary = h('p.denials-summary', { 'aria-live': 'polite' });
  card.append(summary);
  if (!first.total) {
    summary.textContent = 'No order met a gate in this run.';
    return card;
  }
  const columns = [
    ['bar', 'Bar', (v) => String(v), true], ['ts', 'Time', fmtTime], ['gate', 'Gate', humanize], ['action', 'Action', (v) => (v === 'log' ? 'logged' : 'denied')],
    ['side', 'Side', String], ['qty', 'Quantity', num(8), true], ['price', 'Price', price, true], ['value', 'Measured', num(4), true],
    ['limit', 'Limit', num(4), true], ['reason', 'Reason', String],
  ];
  const tbody = h('tbody');
  const table = h('table.data.denied-list', {}, h('caption.sr-only', {}, 'Orders the risk gates met'),
    h('thead', {}, h('tr', {}, columns.map(([, label, , n]) => h(`th${n ? '.num' : ''}`, { scope: 'col' }, label)))), tbody);
  const filter = h('select', { id: 'denied-gate', onchange: () => { gate = filter.value || null; page = 0; load(); } },
    h('option', { value: '' }, 'Every gate'), names.map((name) => h('option', { value: name }, humanize(name))));
  const prev = h('button.btn.btn-small', { type: 'button', onclick: () => { page -= 1; load(); } }, 'Previous');
  const next = h('button.btn.btn-small', { type: 'button', onclick: () => { page += 1; load(); } }, 'Next');
  const pageInfo = h('span.muted');
  const error = h('p.form-error', { hidden: true, role: 'alert' });
  card.append(h('p.denied-filter', {}, h('label', { for: 'denied-gate' }, 'Show '), filter),
    h('div.table-wrap', {}, table), h('div.pager', {}, prev, pageInfo, next), error);
  let gate = null;
  let page = 0;
  let seq = 0;
  const show = (answer) => {
    tbody.replaceChildren(...answer.denied.map((d) => h(`tr.${d.action === 'log' ? 'logged' : 'denied'}`, { dataset: { bar: String(d.bar) } },
      columns.map(([key, label, fmt, n]) => h(`td${n ? '.num' : ''}`, { dataset: { label, key } }, fmt(d[key]))))));
    const pages = Math.max(1, Math.ceil(answer.total / PAGE));
    pageInfo.textContent = `Page ${page + 1} of ${pages} · ${answer.total.toLocaleString('en-US')} rows`;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  };
  async function load() {
    const token = ++seq;
    try {
      const answer = await api(deniedRoute(id, { limit: PAGE, offset: page * PAGE, gate }), { signal });
      if (token !== seq) return;
      error.hidden = true;
      show(answer);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      error.hidden = false;
      error.textContent = `Could not load the gate rows: ${err.message}`;
    }
  }
  const denied = first.denied.filter((d) => d.action !== 'log').length;
  const logged = first.denied.length - denied;
  const shownOnChart = first.total > first.denied.length ? ` The chart marks the first ${first.denied.length.toLocaleString('en-US')}.` : '';
  summary.textContent = `${first.total.toLocaleString('en-US')} orders met a gate${first.total <= first.denied.length ? ` (${denied} denied, ${logged} logged)` : ''}.${shownOnChart}`;
  show({ denied: first.denied.slice(0, PAGE), total: first.total });
  return card;
}
