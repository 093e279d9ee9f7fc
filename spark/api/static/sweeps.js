// The sweeps views: the list (#/sweeps, progress live from SSE `event: sweep`) and one sweep (#/sweeps/<id>): its
// progress and best set, the results table (sorted by the server, best first; a header click sorts by it), a heatmap
// over any two parameters (sweepmap.js), "Backtest this set" (starts a normal run with the set, then opens it), and
// for a walk-forward the fold table and the stitched out-of-sample equity beside the in-sample one (charts.js).

import { guardButton } from './access.js';
import { ApiError, api, query, routes } from './api.js';
import { fmtNum, fmtStat, fmtTime, h, humanize } from './format.js';
import { toast, toastError } from './toast.js';

export const SWEEP_ID = /^(sw|wf)-[0-9]{13}-[0-9a-f]{8}$/;
const PAGE = 50;
const HEATMAP_ROWS = 10000;
const COLUMNS = ['returnPct', 'maxDrawdownPct', 'sharpe', 'sortino', 'totalTrades', 'winRate', 'profitFactor'];
const LOWER_IS_BETTER = new Set(['maxDrawdownPct', 'maxDrawdownDurationBars', 'maxDrawdownDurationMs', 'feesPaid', 'rejectedOrders']);
const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const sweepUrl = (id) => `/api/sweeps/${encodeURIComponent(id)}`;
const resultsUrl = (id, params) => `${sweepUrl(id)}/results${query(params)}`;

function progressOf(s) {
  const total = Number(s.total) || 0;
  const done = s.status === 'done' ? total : Math.min(Number(s.done) || 0, total);
  return { done, total, fraction: total ? done / total : 0 };
}

function statusCell(s) {
  const p = progressOf(s);
  const bar = h('progress', { max: 1, value: p.fraction, 'aria-label': `Progress of ${s.id}` });
  const text = h('span.muted', {}, `${p.done.toLocaleString()} / ${p.total.toLocaleString()} sets`);
  return h('span.status-cell', {}, h(`span.status.status-${s.status}`, {}, s.status),
    s.status === 'running' || s.status === 'queued' ? h('span.progress', {}, bar, text) : null,
    s.error ? h('span.muted', {}, ` ${s.error}`) : null);
}

const bestText = (s) => (s.best ? `${fmtNum(s.best.value)} with ${Object.entries(s.best.params).map(([k, v]) => `${k}=${v}`).join(', ')}` : '—');

/** #/sweeps: every sweep, newest first, rows following the stream. */
export function sweepsView(main, { live }) {
  const rows = new Map();
  const tbody = h('tbody', {});
  const empty = h('p.muted', { hidden: true }, 'No sweeps yet. Start one with POST /api/sweeps or `spark sweep`.');
  const row = (s) => h('tr', { dataset: { id: s.id, status: s.status } },
    h('td', {}, h('a.run-id', { href: `#/sweeps/${s.id}` }, s.id)),
    h('td', {}, s.kind === 'walkforward' ? 'walk-forward' : 'sweep'),
    h('td', {}, s.strategy || '—'), h('td', {}, s.method || '—'),
    h('td', { dataset: { key: 'status' } }, statusCell(s)),
    h('td', { dataset: { key: 'best' } }, s.objective ? `${s.objective.stat}: ${bestText(s)}` : bestText(s)),
    h('td', {}, fmtTime(s.startedAt)));
  const render = () => {
    const list = [...rows.values()].sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0) || (a.id < b.id ? 1 : -1));
    tbody.replaceChildren(...list.map(row));
    empty.hidden = list.length > 0;
  };
  const table = h('div.table-wrap', {}, h('table.data.sweeps', {},
    h('caption.sr-only', {}, 'Sweeps and walk-forwards, newest first'),
    h('thead', {}, h('tr', {}, ['Sweep', 'Kind', 'Strategy', 'Method', 'Status', 'Best', 'Started'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody));
  main.replaceChildren(h('h1', { tabIndex: -1 }, 'Sweeps'), empty, table);
  const onEvent = (ev) => {
    if (ev.detail.kind !== 'sweep') return;
    const { serverTime: _, ...s } = ev.detail.data;
    rows.set(s.id, { ...(rows.get(s.id) || {}), ...s });
    render();
  };
  live.addEventListener('server-event', onEvent);
  api('/api/sweeps').then((doc) => {
    for (const s of doc.sweeps) if (!rows.has(s.id)) rows.set(s.id, s);
    render();
    main.dataset.loaded = 'true';
  }).catch((err) => main.append(h('p.form-error', { role: 'alert' }, `Could not load the sweeps: ${err.message}`)));
  return () => live.removeEventListener('server-event', onEvent);
}

/** Start a normal run with one set of a sweep (its feed and options), then open it. */
async function backtestSet(sweep, doc, row) {
  const spec = doc.spec || {};
  const body = { strategy: sweep.strategy, params: row.params, feed: sweep.feed || undefined, options: wireOptions(spec.options) };
  try {
    const answer = await api(routes.start(), { method: 'POST', body, admin: true });
    toast(`Run ${answer.id} started with set #${row.index}.`, 'ok');
    location.hash = `#/runs/${answer.id}`;
  } catch (err) {
    toastError('Starting the run', err, { notFoundMeansWriteOff: true });
  }
}

/** The options a sweep ran with, as a start body takes them (camelCase, only those set). */
function wireOptions(options) {
  const out = {};
  for (const [k, v] of Object.entries(options || {})) if (v !== null && v !== undefined && k !== 'gates') out[camel(k)] = v;
  return out;
}

function backtestButton(sweep, doc, row, disposers) {
  const button = h('button.small', { type: 'button', dataset: { action: 'backtest', index: String(row.index) } }, 'Backtest this set');
  button.addEventListener('click', () => backtestSet(sweep, doc, row));
  disposers.push(guardButton(button));
  return button;
}

function resultsCard(sweep, doc, disposers) {
  const objective = camel(sweep.objective ? sweep.objective.stat : 'sharpe');
  const columns = [objective, ...COLUMNS.filter((c) => c !== objective)];
  let sort = '';
  let offset = 0;
  let params = [];
  const thead = h('thead', {});
  const tbody = h('tbody', {});
  const pager = h('p.pager', {});
  const caption = h('caption.sr-only', {}, `Parameter sets of ${sweep.id}`);
  const header = () => {
    const cell = (name, label) => {
      const active = sort.replace(/^-/, '') === name;
      const button = h('button.sort', { type: 'button', dataset: { sort: name } }, label);
      button.addEventListener('click', () => {
        const ascending = LOWER_IS_BETTER.has(name) || (!COLUMNS.includes(name) && name !== objective); // params, index
        const first = ascending ? name : `-${name}`;
        sort = active ? (sort.startsWith('-') ? name : `-${name}`) : first;
        offset = 0;
        load();
      });
      return h('th', { scope: 'col', 'aria-sort': active ? (sort.startsWith('-') ? 'descending' : 'ascending') : 'none' }, button);
    };
    thead.replaceChildren(h('tr', {}, h('th', { scope: 'col' }, 'Rank'), cell('index', '#'), params.map((p) => cell(p, p)),
      columns.map((c) => cell(c, humanize(c))), h('th', { scope: 'col' }, '')));
  };
  const load = async () => {
    try {
      const page = await api(resultsUrl(sweep.id, { sort: sort || undefined, limit: PAGE, offset: offset || undefined }));
      params = page.params;
      header();
      tbody.replaceChildren(...page.rows.map((r, i) => h(`tr${r.feasible ? '' : '.infeasible'}`, { dataset: { index: String(r.index) } },
        h('td.num', {}, String(offset + i + 1)), h('td.num', {}, String(r.index)),
        params.map((p) => h('td.num', { dataset: { param: p } }, String(r.params[p]))),
        columns.map((c) => h('td.num', { dataset: { stat: c } }, fmtStat(c, r.stats[c]))),
        h('td', {}, backtestButton(sweep, doc, r, disposers)))));
      const prev = h('button.small', { type: 'button', disabled: offset === 0 }, '← Previous');
      const next = h('button.small', { type: 'button', disabled: offset + PAGE >= page.total }, 'Next →');
      prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load(); });
      next.addEventListener('click', () => { offset += PAGE; load(); });
      pager.replaceChildren(prev, ` ${page.total ? offset + 1 : 0}–${Math.min(offset + PAGE, page.total)} of ${page.total.toLocaleString()} `, next);
      tbody.closest('section').dataset.loaded = 'true';
    } catch (err) {
      pager.replaceChildren(h('span.form-error', { role: 'alert' }, `Could not load the results: ${err.message}`));
    }
  };
  const title = sweep.kind === 'walkforward' ? 'Parameter sets (the final window’s sweep)' : 'Parameter sets';
  const card = h('section.card.sweep-results', {}, h('h2', {}, title),
    h('p.muted', {}, `Best ${sweep.objective ? `${sweep.objective.stat} (${sweep.objective.direction})` : ''} first; sets failing the constraints last.`),
    h('div.table-wrap', {}, h('table.data.results', {}, caption, thead, tbody)), pager);
  load();
  return card;
}

async function allRows(id, total) {
  const rows = [];
  for (let offset = 0; offset < Math.min(total, HEATMAP_ROWS); offset += 1000) {
    const page = await api(resultsUrl(id, { sort: 'index', limit: 1000, offset: offset || undefined }));
    rows.push(...page.rows);
    if (page.rows.length < 1000) break;
  }
  return rows;
}

async function heatmapCard(sweep, doc, disposers, picked) {
  const first = await api(resultsUrl(sweep.id, { limit: 1 }));
  if (first.params.length < 2) return null;
  const rows = await allRows(sweep.id, first.total);
  const { heatmap } = await import('./sweepmap.js');
  const objective = { stat: camel(sweep.objective.stat), direction: sweep.objective.direction };
  return heatmap(rows, first.params, objective, (row) => {
    picked.replaceChildren(`Picked set #${row.index}: ${Object.entries(row.params).map(([k, v]) => `${k}=${v}`).join(', ')} `,
      backtestButton(sweep, doc, row, disposers));
  });
}

function foldsCard(result) {
  const stat = camel(result.objective.stat);
  const span = (w) => (Array.isArray(w) ? `${w[0]}–${w[1]}` : '—');
  const rows = result.folds.map((f) => h('tr', { dataset: { fold: String(f.fold) } },
    h('td.num', {}, String(f.fold)), h('td', {}, span(f.train)), h('td', {}, span(f.test)),
    h('td', {}, f.params ? Object.entries(f.params).map(([k, v]) => `${k}=${v}`).join(', ') : '—'),
    h('td.num', {}, fmtStat(stat, f.inSample && f.inSample[stat])), h('td.num', {}, fmtStat(stat, f.outOfSample && f.outOfSample[stat])),
    h('td.num', {}, fmtStat('returnPct', f.outOfSample && f.outOfSample.returnPct)),
    h('td.num', {}, fmtStat('totalTrades', f.outOfSample && f.outOfSample.totalTrades)), h('td', {}, f.warning || '')));
  const oos = result.outOfSample || {};
  const line = `Out of sample: return ${fmtStat('returnPct', oos.returnPct)}, Sharpe ${fmtStat('sharpe', oos.sharpe)}, `
    + `max drawdown ${fmtStat('maxDrawdownPct', oos.maxDrawdownPct)}, efficiency ${fmtNum(result.efficiency)}, `
    + `deflated Sharpe ${fmtNum(result.deflatedSharpe && result.deflatedSharpe.value)} (N = ${result.trials}).`;
  return h('section.card.sweep-folds', {}, h('h2', {}, 'Folds'), h('p.oos-line', {}, line),
    h('div.table-wrap', {}, h('table.data.folds', {}, h('caption.sr-only', {}, 'Walk-forward folds'),
      h('thead', {}, h('tr', {}, ['Fold', 'Train bars', 'Test bars', 'Chosen', `${humanize(stat)} in`, `${humanize(stat)} out`, 'Return out', 'Trades out', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))));
}

async function equityCard(equity, holder) {
  const charts = await import('./charts.js');
  const colours = charts.themeColors();
  const wrap = h('div.chart.sweep-equity', {});
  const card = h('section.card', {}, h('h2', {}, 'Out-of-sample equity'),
    h('p.legend', {}, h('span.swatch.swatch-1'), ' stitched out of sample  ', h('span.swatch.swatch-2'), ' in sample (the final choice in hindsight)'),
    wrap, h('p.muted.attribution', {}, charts.ATTRIBUTION));
  holder.replaceChildren(card);
  const panes = charts.createPanes(wrap);
  const pane = panes.add('equity', { height: 300, title: 'Equity' });
  pane.line({ color: colours.series1, lineWidth: 2 }).setData(charts.toLine(equity.outOfSample.timestamp, equity.outOfSample.equity));
  if (equity.inSample) pane.line({ color: colours.series2, lineWidth: 1 }).setData(charts.toLine(equity.inSample.timestamp, equity.inSample.equity));
  panes.fit();
  return panes;
}

/** #/sweeps/<id>: one sweep. */
export function sweepView(main, { live, id }) {
  const disposers = [];
  let panes = null;
  let shownStatus = null;
  const head = h('div.sweep-head', {});
  const body = h('div', {}, h('p.muted', {}, 'Loading the sweep…'));
  main.replaceChildren(h('p.crumbs', {}, h('a', { href: '#/sweeps' }, '← All sweeps')), h('h1', { tabIndex: -1 }, `Sweep ${id}`), head, body);
  const summaryLine = (s) => head.replaceChildren(h('p', { dataset: { status: s.status } }, statusCell(s)),
    h('p.best', {}, s.objective ? `Best ${s.objective.stat}: ${bestText(s)}` : ''));
  const show = async (detail) => {
    const s = detail.sweep;
    shownStatus = s.status;
    summaryLine(s);
    if (s.status !== 'done') {
      body.replaceChildren(h('p.muted', {}, s.status === 'failed' ? `This sweep failed: ${s.error}.` : 'The results appear when the sweep is done.'));
      return;
    }
    const picked = h('p.picked', { 'aria-live': 'polite' });
    const equity = h('div', {});
    const result = detail.doc.result;
    body.replaceChildren(...[result ? foldsCard(result) : null, equity, resultsCard(s, detail.doc, disposers), picked].filter(Boolean));
    if (detail.equity) panes = await equityCard(detail.equity, equity);
    const map = await heatmapCard(s, detail.doc, disposers, picked);
    if (map) body.insertBefore(map, picked);
    main.dataset.loaded = 'true';
  };
  const load = () => api(sweepUrl(id)).then(show).catch((err) => {
    const msg = err instanceof ApiError && err.status === 404 ? 'There is no such sweep on this server.' : `Could not load the sweep: ${err.message}`;
    body.replaceChildren(h('p.form-error', { role: 'alert' }, msg));
  });
  const onEvent = (ev) => {
    if (ev.detail.kind !== 'sweep' || ev.detail.data.id !== id) return;
    summaryLine(ev.detail.data);
    if (ev.detail.data.status !== shownStatus && (ev.detail.data.status === 'done' || ev.detail.data.status === 'failed')) load();
  };
  live.addEventListener('server-event', onEvent);
  load();
  return () => {
    live.removeEventListener('server-event', onEvent);
    disposers.forEach((fn) => fn());
    if (panes) panes.destroy();
  };
}
