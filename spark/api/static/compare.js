// Two runs side by side: their stats in one table (with the difference) and both equity curves on one chart.

import { ApiError, api, routes } from './api.js';
import { EquityChart, normalizeEquity, pointsFor } from './chart.js';
import { fmtStat, fmtStatDiff, h, humanize } from './format.js';
import { scalarStats, statsOf } from './report.js';

function statsTable(a, b, ida, idb) {
  const sa = new Map(scalarStats(statsOf(a)));
  const sb = new Map(scalarStats(statsOf(b)));
  const keys = [...sa.keys(), ...[...sb.keys()].filter((k) => !sa.has(k))];
  if (!keys.length) return h('p.muted', {}, 'Neither run has statistics yet.');
  const head = h('tr', {}, h('th', { scope: 'col' }, 'Statistic'),
    h('th.num', { scope: 'col' }, h('span.swatch.swatch-1'), ' A'), h('th.num', { scope: 'col' }, h('span.swatch.swatch-2'), ' B'),
    h('th.num', { scope: 'col' }, 'B − A'));
  const rows = keys.map((k) => {
    const va = sa.get(k);
    const vb = sb.get(k);
    const diff = fmtStatDiff(k, va, vb);
    return h('tr', { dataset: { stat: k } }, h('th', { scope: 'row' }, humanize(k)),
      h('td.num', { dataset: { label: 'A' } }, fmtStat(k, va)), h('td.num', { dataset: { label: 'B' } }, fmtStat(k, vb)),
      h('td.num', { dataset: { label: 'B − A' } }, diff));
  });
  return h('div.table-wrap', {}, h('table.data.compare', {},
    h('caption.sr-only', {}, `Statistics of ${ida} (A) and ${idb} (B)`), h('thead', {}, head), h('tbody', {}, rows)));
}

function runCard(label, run, cls) {
  const line = (k, v) => (v === undefined || v === null || v === '' ? null
    : h('div', {}, h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))));
  return h('section.card', {},
    h('h2', {}, h(`span.swatch.${cls}`), ` ${label}: `, h('a.run-id', { href: `#/runs/${run.id}` }, run.id)),
    h('dl.settings', {}, line('Status', run.status), line('Pair', run.pair), line('Timeframe', run.timeframe),
      line('Strategy', run.strategy), line('Parameters', run.params), line('Data feed', run.feed && run.feed.name),
      line('Feed arguments', run.feed && run.feed.args), line('Notes', run.notes)));
}

export function compareView(main, { a, b }) {
  let chart = null;
  let disposed = false;
  const controller = new AbortController();
  const canvas = h('canvas.equity', { role: 'img', 'aria-label': `Equity curves of ${a} (A) and ${b} (B) with drawdown below` });
  const readout = h('p.readout.muted', { 'aria-hidden': 'true' });
  const body = h('div', {}, h('p.muted', {}, 'Loading both runs…'));
  main.replaceChildren(
    h('p.crumbs', {}, h('a', { href: '#/' }, '← All runs')),
    h('h1', { tabIndex: -1 }, 'Compare runs'),
    body);

  (async () => {
    try {
      const [da, db] = await Promise.all([a, b].map((id) => api(routes.run(id), { signal: controller.signal })));
      if (disposed) return;
      const legend = h('p.legend', {}, h('span.swatch.swatch-1'), ` A ${a}  `, h('span.swatch.swatch-2'), ` B ${b}`);
      body.replaceChildren(
        h('div.two', {}, runCard('A', da, 'swatch-1'), runCard('B', db, 'swatch-2')),
        h('section.card', {}, h('h2', {}, 'Equity and drawdown'), legend, h('div.chart', {}, canvas), readout),
        h('section.card', {}, h('h2', {}, 'Statistics'), statsTable(da, db, a, b)));
      const done = [da, db].filter((d) => d.status === 'done');
      chart = new EquityChart(canvas, readout);
      const points = pointsFor(canvas);
      const curves = await Promise.all(done.map((d) => api(routes.equity(d.id, points), { signal: controller.signal })));
      if (disposed) return;
      chart.setSeries(done.map((d, i) => ({ label: d.id === a ? 'A' : 'B', slot: d.id === a ? 0 : 1, ...normalizeEquity(curves[i]) })));
      if (done.length < 2) body.prepend(h('p.reason', {}, 'Only runs that are done have an equity curve.'));
    } catch (err) {
      if (disposed || (err && err.name === 'AbortError')) return;
      const msg = err instanceof ApiError && err.status === 404 ? 'One of these runs does not exist on this server.' : `Could not load the runs: ${err.message}`;
      body.replaceChildren(h('p.form-error', { role: 'alert' }, msg));
    }
  })();

  return () => {
    disposed = true;
    controller.abort();
    if (chart) chart.destroy();
  };
}
