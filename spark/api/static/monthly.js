// Monthly returns of a run (GET /api/backtest/<id>/monthly): a year x month table, each cell coloured by its
// return (green up, red down, stronger the larger), with the year's return in the last column.

import { api, routes } from './api.js';
import { h } from './format.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const pct = (v) => (Number.isFinite(v) ? `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toFixed(2)}` : '');

/** The table for an answer {months: [{year, month, returnPct}], years: [{year, returnPct}]}. */
export function monthlyGrid(doc) {
  const months = (doc && doc.months) || [];
  const years = (doc && doc.years) || [];
  if (!months.length) return h('p.muted', {}, 'No monthly returns for this run.');
  const byKey = new Map(months.map((m) => [`${m.year}-${m.month}`, m.returnPct]));
  const yearly = new Map(years.map((y) => [y.year, y.returnPct]));
  const scale = Math.max(1e-9, ...months.map((m) => Math.abs(m.returnPct ?? 0)));
  const cell = (v, label, strong) => {
    const td = h(`td.num.heat${Number.isFinite(v) ? (v > 0 ? '.gain' : v < 0 ? '.loss' : '') : ''}`, { dataset: { label } }, pct(v));
    if (Number.isFinite(v) && v !== 0) {
      // CSSOM (allowed by the page's style policy): the share of the month's size in the run's largest month
      const alpha = strong ? 0.18 : 0.08 + 0.5 * Math.min(1, Math.abs(v) / scale);
      td.style.backgroundColor = v > 0 ? `rgba(19, 160, 70, ${alpha.toFixed(3)})` : `rgba(215, 45, 30, ${alpha.toFixed(3)})`;
    }
    if (Number.isFinite(v)) td.title = `${label}: ${pct(v)} %`;
    return td;
  };
  const yearList = [...new Set(months.map((m) => m.year))].sort((a, b) => a - b);
  const rows = yearList.map((year) => h('tr', { dataset: { year: String(year) } }, h('th', { scope: 'row' }, String(year)),
    MONTHS.map((name, i) => cell(byKey.get(`${year}-${i + 1}`), `${name} ${year}`, false)),
    cell(yearly.get(year), `Year ${year}`, true)));
  return h('div.table-wrap', {}, h('table.data.monthly', {},
    h('caption.sr-only', {}, 'Returns per calendar month (UTC), in percent'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Year'), MONTHS.map((m) => h('th.num', { scope: 'col' }, m)), h('th.num', { scope: 'col' }, 'Year'))),
    h('tbody', {}, rows)), h('p.muted.note', {}, 'Returns in percent, per calendar month in UTC; a month is its last equity over the previous month\'s last.'));
}

export async function monthlyTable({ id, signal }) {
  return monthlyGrid(await api(routes.monthly(id), { signal }));
}
