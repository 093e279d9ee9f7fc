// Two runs side by side: their stats in one table (with the difference) and both equity curves, with their
// drawdowns below, on linked panes of the shared chart module (charts.js, loaded lazily).

import { ApiError, api, routes } from './api.js';
import { fmtStat, fmtStatDiff, h, humanize } from './format.js';
import { pointsForWidth } from './pricechart.js';
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
  let panes = null;
  let disposed = false;
  const controller = new AbortController();
  const chartBox = h('div.compare-chart');
  const readout = h('p.readout', { 'aria-live': 'off' });
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
      const credit = h('p.muted.note');
      body.replaceChildren(
        h('div.two', {}, runCard('A', da, 'swatch-1'), runCard('B', db, 'swatch-2')),
        h('section.card', {}, h('h2', {}, 'Equity and drawdown'), legend, chartBox, readout, credit),
        h('section.card', {}, h('h2', {}, 'Statistics'), statsTable(da, db, a, b)));
      const done = [da, db].filter((d) => d.status === 'done');
      const charts = await import('./charts.js');
      const points = pointsForWidth(chartBox.clientWidth || 800);
      const curves = await Promise.all(done.map((d) => api(routes.equity(d.id, points), { signal: controller.signal })));
      if (disposed) return;
      credit.textContent = charts.ATTRIBUTION;
      const c = charts.themeColors();
      panes = charts.createPanes(chartBox, { readout });
      const eq = panes.add('equity', { height: 260, title: 'Equity', timeAxis: false });
      const dd = panes.add('drawdown', { height: 130, title: 'Drawdown %' });
      dd.chart.priceScale('right').applyOptions({ invertScale: true });
      const drawn = done.map((d, i) => {
        const label = d.id === a ? 'A' : 'B';
        const color = d.id === a ? c.series1 : c.series2;
        const ts = curves[i].timestamp;
        return {
          label,
          equity: eq.line({ color, title: label, lastValueVisible: true }).setData(charts.toLine(ts, curves[i].equity)),
          drawdown: dd.line({ color, lineWidth: 1, title: label, priceFormat: { type: 'custom', formatter: (v) => `${v.toFixed(2)} %`, minMove: 0.01 } })
            .setData(charts.toLine(ts, curves[i].drawdownPct)),
        };
      });
      panes.onReadout((time, at) => {
        const stamp = new Date(time * 1000).toISOString().replace('T', ' ').slice(0, 16);
        const parts = drawn.map((x) => {
          const e = at(x.equity);
          const d = at(x.drawdown);
          return e ? `${x.label}: equity ${e.value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}${d ? `, drawdown ${d.value.toFixed(2)} %` : ''}` : '';
        }).filter(Boolean);
        return `${stamp} UTC · ${parts.join(' · ')}`;
      });
      panes.fit();
      chartBox.dataset.points = String(curves.reduce((n, doc) => n + doc.timestamp.length, 0));
      chartBox.dataset.drawn = 'true';
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
    if (panes) panes.destroy();
  };
}
