// The runs view: the live table, ranked and filtered by the server (GET /api/backtest?sort=&status=&strategy=
// &pair=), cancel behind a confirm, picking two runs to compare, and the "New backtest" form. Rows are updated in
// place, so focus and selection survive a stream of progress events; with a filter or an order chosen, the list
// is asked for again whenever a run appears or changes status, and the rows keep following the stream.

import { access, guardButton } from './access.js';
import { ApiError, api, routes } from './api.js';
import { fmtDuration, fmtTime, h } from './format.js';
import { newBacktestForm } from './form.js';
import { confirmDialog, toast, toastError } from './toast.js';

const MAX_ROWS = 500;
const ACTIVE = new Set(['queued', 'running']);
const STATUSES = ['queued', 'running', 'done', 'failed'];
const REQUERY_MS = 400;
// Sortable columns: the server's sort names (spark/service/store.py SORT_FIELDS); the first click ranks best first.
const SORTS = { returnPct: '-', maxDrawdownPct: '', sharpe: '-', totalTrades: '-', bars: '-', startedAt: '-' };

const signedPct = (v) => (Number.isFinite(v) ? `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toFixed(2)} %` : '—');
const fixed = (v, d = 2) => (Number.isFinite(v) ? `${v < 0 ? '−' : ''}${Math.abs(v).toFixed(d)}` : '—');

/** Ask, cancel, and say how it went; shared with the report view. */
export async function cancelRun(id) {
  const ok = await confirmDialog(`Cancel run ${id}? It will end as failed (cancelled).`, 'Cancel run');
  if (!ok) return false;
  try {
    const answer = await api(routes.cancel(id), { method: 'DELETE', admin: true });
    toast(`Cancelled ${answer.id || id}.`, 'ok');
    return true;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 409) toast(`Cancel refused: ${err.message}`, 'warn');
    else toastError('Cancel', err);
    if (err.status === 404 || err.status === 401) access.load();
    return false;
  }
}

export function durationOf(run, now) {
  if (!Number.isFinite(run.startedAt)) return NaN;
  const end = Number.isFinite(run.finishedAt) ? run.finishedAt : ACTIVE.has(run.status) ? now : NaN;
  return end - run.startedAt;
}

function cell(label, key, ...children) {
  return h(`td${key && key !== 'started' && key !== 'duration' ? '.num' : ''}`, { dataset: { label, key: key || '' } }, ...children);
}

function makeRow(id, selection, onSelect) {
  const link = h('a.run-id', { href: `#/runs/${id}` }, id);
  const status = h('span.status');
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Progress of ${id}` });
  const pct = h('span.pct', { 'aria-hidden': 'true' });
  const progress = h('span.progress', {}, bar, pct);
  const cancel = h('button.btn.btn-small.btn-danger', { type: 'button', onclick: () => cancelRun(id) }, 'Cancel');
  cancel.setAttribute('aria-label', `Cancel run ${id}`);
  const pick = h('input', { type: 'checkbox', checked: selection.has(id), onchange: (ev) => onSelect(id, ev.target.checked) });
  pick.setAttribute('aria-label', `Select ${id} for comparison`);
  const strategy = h('td', { dataset: { label: 'Strategy', key: 'strategy' } });
  const data = h('td.data-cell', { dataset: { label: 'Data', key: 'data' } });
  const cells = {
    returnPct: cell('Return', 'returnPct'), maxDrawdownPct: cell('Max drawdown', 'maxDrawdownPct'), sharpe: cell('Sharpe', 'sharpe'),
    totalTrades: cell('Trades', 'totalTrades'), started: cell('Started', 'started'), duration: cell('Duration', 'duration'),
  };
  const tr = h('tr', { dataset: { id } },
    h('td', { dataset: { label: 'Run', key: 'id' } }, link), strategy, data,
    h('td', { dataset: { label: 'Status', key: 'status' } }, h('span.status-cell', {}, status, progress)),
    cells.returnPct, cells.maxDrawdownPct, cells.sharpe, cells.totalTrades, cells.started, cells.duration,
    h('td', { dataset: { label: 'Actions', key: 'actions' } }, h('span.actions', {}, h('label.pick', {}, pick, h('span', {}, 'Compare')), cancel)));
  const unguard = guardButton(cancel);
  return { tr, status, bar, pct, progress, cancel, pick, strategy, data, cells, unguard, key: '' };
}

function fillRow(row, run, now) {
  const active = ACTIVE.has(run.status);
  const key = JSON.stringify([run.status, run.progress, run.finishedAt, run.stats, run.bars, active ? now : 0]);
  if (key === row.key) return;
  row.key = key;
  row.tr.dataset.status = run.status;
  row.status.textContent = run.status;
  row.status.className = `status status-${run.status}`;
  row.status.title = run.error || '';
  const progress = run.status === 'done' ? 1 : Math.max(0, Math.min(1, Number(run.progress) || 0));
  row.bar.value = progress;
  row.pct.textContent = `${Math.round(progress * 100)} %`;
  row.progress.hidden = !active;
  row.strategy.textContent = run.strategy ?? '';
  row.data.textContent = [run.pair, run.timeframe, Number.isFinite(run.bars) ? `${run.bars.toLocaleString('en-US')} bars` : '']
    .filter(Boolean).join(' · ');
  const stats = run.stats || {};
  const ret = stats.returnPct;
  row.cells.returnPct.textContent = Number.isFinite(ret) ? signedPct(ret) : run.status === 'failed' ? (run.error || 'failed') : '—';
  row.cells.returnPct.className = `num ${Number.isFinite(ret) ? (ret > 0 ? 'gain' : ret < 0 ? 'loss' : '') : 'muted'}`;
  row.cells.maxDrawdownPct.textContent = Number.isFinite(stats.maxDrawdownPct) ? `${stats.maxDrawdownPct.toFixed(2)} %` : '—';
  row.cells.sharpe.textContent = fixed(stats.sharpe);
  row.cells.totalTrades.textContent = Number.isFinite(stats.totalTrades) ? stats.totalTrades.toLocaleString('en-US') : '—';
  row.cells.started.textContent = fmtTime(run.startedAt);
  row.cells.duration.textContent = fmtDuration(durationOf(run, now));
  row.cancel.hidden = !active;
}

/** The filter bar: status, strategy and pair, sent to the server as they are. */
function filterBar(catalog, onChange) {
  const status = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const strategy = h('select', { id: 'filter-strategy' }, h('option', { value: '' }, 'Any strategy'));
  const pair = h('input', { id: 'filter-pair', type: 'search', placeholder: 'e.g. ETHUSDT', autocomplete: 'off', spellcheck: false, maxLength: 64 });
  catalog.ready.then(() => strategy.append(...catalog.strategies.map((s) => h('option', { value: s.name }, s.name))));
  let timer = 0;
  const changed = () => onChange({ status: status.value, strategy: strategy.value, pair: pair.value.trim() });
  status.addEventListener('change', changed);
  strategy.addEventListener('change', changed);
  pair.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(changed, 300); });
  const field = (id, label, control) => h('div.field', {}, h('label', { for: id }, label), control);
  return h('form.filters', { role: 'search', 'aria-label': 'Filter runs', onsubmit: (ev) => { ev.preventDefault(); changed(); } },
    field('filter-status', 'Status', status), field('filter-strategy', 'Strategy', strategy), field('filter-pair', 'Pair', pair));
}

export function runsView(main, { store, live, catalog }) {
  const selection = new Set();
  let disposed = false;
  const rows = new Map();
  let filters = { status: '', strategy: '', pair: '' };
  let sort = null; // e.g. '-returnPct'; null: newest first, from the stream alone
  let ranked = null; // {ids, total} from the server while a filter or an order is chosen
  let querySeq = 0;
  let queryTimer = 0;
  let known = new Map(); // id -> status, to ask again only when a run appears or changes status
  const queryError = h('p.form-error', { hidden: true, role: 'alert' });
  const compareBtn = h('button.btn', { type: 'button', disabled: true }, 'Compare selected');
  const compareHint = h('span.muted', {}, 'Pick two runs to compare.');
  const onSelect = (id, on) => {
    if (on) selection.add(id); else selection.delete(id);
    while (selection.size > 2) {
      const first = selection.values().next().value;
      selection.delete(first);
      const r = rows.get(first);
      if (r) r.pick.checked = false;
    }
    compareBtn.disabled = selection.size !== 2;
    compareHint.textContent = selection.size === 2 ? '' : `Pick ${2 - selection.size} more run${selection.size === 1 ? '' : 's'} to compare.`;
  };
  compareBtn.addEventListener('click', () => {
    const [a, b] = [...selection];
    location.hash = `#/compare/${a}/${b}`;
  });

  const newBtn = h('button.btn.btn-primary', { type: 'button', id: 'new-toggle', 'aria-expanded': 'false', 'aria-controls': 'new-panel' }, 'New backtest');
  const formPanel = h('section.panel', { id: 'new-panel', hidden: true });
  let form = null;
  const openForm = async (open) => {
    formPanel.hidden = !open;
    newBtn.setAttribute('aria-expanded', String(open));
    newBtn.textContent = open ? 'Close form' : 'New backtest';
    if (open && !form) {
      formPanel.replaceChildren(h('p.muted', {}, 'Loading strategies and feeds…'));
      await catalog.ready;
      if (disposed || form) return;
      if (!catalog.strategies.length) {
        formPanel.replaceChildren(h('p.form-error', {}, 'The server lists no strategies, so no run can be started.'));
        return;
      }
      form = newBacktestForm({ strategies: catalog.strategies, feeds: catalog.feeds, onStarted: () => live.refresh() });
      formPanel.replaceChildren(form.el);
    }
    if (open && form) form.focus();
  };
  newBtn.addEventListener('click', () => openForm(formPanel.hidden));
  const mutationReason = h('p.reason', { id: 'mutation-reason', hidden: true });
  const unguardReason = (() => {
    const apply = () => {
      const why = access.reason();
      mutationReason.textContent = why;
      mutationReason.hidden = !why;
    };
    apply();
    access.addEventListener('change', apply);
    return () => access.removeEventListener('change', apply);
  })();

  const tbody = h('tbody');
  const empty = h('p.empty.muted', { hidden: true }, 'No runs yet. Start one with "New backtest".');
  const count = h('span.muted', { id: 'runs-count' });
  const heads = [
    ['Run', null], ['Strategy', null], ['Data', 'bars'], ['Status', null], ['Return', 'returnPct'], ['Max DD', 'maxDrawdownPct'],
    ['Sharpe', 'sharpe'], ['Trades', 'totalTrades'], ['Started', 'startedAt'], ['Duration', null], ['Actions', null],
  ].map(([label, key]) => {
    const num = ['returnPct', 'maxDrawdownPct', 'sharpe', 'totalTrades'].includes(key);
    if (!key) return h('th', { scope: 'col' }, label);
    return h(`th${num ? '.num' : ''}`, { scope: 'col', 'aria-sort': 'none', dataset: { sort: key } },
      h('button.sort', { type: 'button', onclick: () => sortBy(key), title: key === 'maxDrawdownPct' ? 'Maximum drawdown' : '' }, label));
  });
  const caption = h('caption.sr-only', {}, 'Backtest runs, newest first');
  const table = h('table.runs', {}, caption, h('thead', {}, h('tr', {}, heads)), tbody);

  main.replaceChildren(
    h('div.toolbar', {},
      h('h1', { tabIndex: -1 }, 'Backtest runs'), count,
      h('span.spacer'), compareHint, compareBtn, newBtn),
    mutationReason,
    formPanel,
    filterBar(catalog, (next) => { filters = next; query(); }),
    queryError,
    h('div.table-wrap', {}, table),
    empty);

  const serverSide = () => sort !== null || filters.status || filters.strategy || filters.pair;

  function sortBy(key) {
    const first = SORTS[key];
    const flipped = first === '-' ? '' : '-';
    sort = sort === `${first}${key}` ? `${flipped}${key}` : `${first}${key}`;
    for (const th of heads) {
      if (!th.dataset.sort) continue;
      th.setAttribute('aria-sort', th.dataset.sort !== key ? 'none' : sort.startsWith('-') ? 'descending' : 'ascending');
    }
    caption.textContent = `Backtest runs, by ${key} ${sort.startsWith('-') ? 'descending' : 'ascending'}`;
    query();
  }

  /** Ask the server for the ranked, filtered list (an older answer arriving late is dropped). */
  async function query() {
    clearTimeout(queryTimer);
    if (!serverSide()) {
      ranked = null;
      querySeq += 1;
      queryError.hidden = true;
      schedule();
      return;
    }
    const token = ++querySeq;
    table.dataset.loading = 'true';
    try {
      const answer = await api(routes.runs(MAX_ROWS, { ...filters, sort: sort || undefined }));
      if (disposed || token !== querySeq) return;
      ranked = { ids: answer.runs.map((r) => r.id), total: answer.total };
      store.merge(answer.runs); // never moves a run backwards: the stream's newer state wins
      queryError.hidden = true;
      render();
    } catch (err) {
      if (disposed || token !== querySeq) return;
      queryError.hidden = false;
      queryError.textContent = err.field ? `${err.field}: ${err.message}` : `Could not list the runs: ${err.message}`;
    } finally {
      if (token === querySeq) table.dataset.loading = 'false';
    }
  }

  const render = () => {
    const now = store.now();
    const runs = ranked ? ranked.ids.map((id) => store.get(id)).filter(Boolean) : store.sorted().slice(0, MAX_ROWS);
    const seen = new Set();
    let before = tbody.firstElementChild;
    for (const run of runs) {
      seen.add(run.id);
      let row = rows.get(run.id);
      if (!row) {
        row = makeRow(run.id, selection, onSelect);
        rows.set(run.id, row);
      }
      fillRow(row, run, now);
      if (row.tr !== before) tbody.insertBefore(row.tr, before);
      else before = before.nextElementSibling;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.unguard();
        row.tr.remove();
        rows.delete(id);
        selection.delete(id);
      }
    }
    empty.textContent = serverSide() ? 'No runs match these filters.' : 'No runs yet. Start one with "New backtest".';
    empty.hidden = runs.length > 0;
    table.hidden = runs.length === 0;
    const total = ranked ? ranked.total : store.runs.size;
    count.textContent = `${total} run${total === 1 ? '' : 's'}${serverSide() && filters.status + filters.strategy + filters.pair ? ' match' : ''}`;
  };
  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  };
  const onStore = () => {
    schedule();
    if (!serverSide()) return;
    // A run that appeared or changed status may enter, leave or move in the ranked list: ask again (batched).
    const now = new Map([...store.runs.values()].map((r) => [r.id, r.status]));
    const moved = [...now].some(([id, status]) => known.get(id) !== status);
    known = now;
    if (moved) {
      clearTimeout(queryTimer);
      queryTimer = setTimeout(query, REQUERY_MS);
    }
  };
  known = new Map([...store.runs.values()].map((r) => [r.id, r.status]));
  store.addEventListener('change', onStore);
  const ticker = setInterval(schedule, 1000); // durations of runs in flight
  render();
  if (location.hash === '#/new') openForm(true);

  return () => {
    disposed = true;
    store.removeEventListener('change', onStore);
    clearInterval(ticker);
    clearTimeout(queryTimer);
    cancelAnimationFrame(frame);
    unguardReason();
    rows.forEach((r) => r.unguard());
    if (form) form.destroy();
  };
}
