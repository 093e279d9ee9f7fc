// The runs view: the live table (newest first), cancel behind a confirm, picking two runs to compare, and the
// "New backtest" form. Rows are updated in place, so focus and selection survive a stream of progress events.

import { access, guardButton } from './access.js';
import { ApiError, api, routes } from './api.js';
import { fmtDuration, fmtSigned, fmtTime, h, runPnl } from './format.js';
import { newBacktestForm } from './form.js';
import { confirmDialog, toast, toastError } from './toast.js';

const MAX_ROWS = 500;
const ACTIVE = new Set(['queued', 'running']);

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

function cell(label, ...children) {
  return h('td', { dataset: { label } }, ...children);
}

function makeRow(id, selection, onSelect) {
  const link = h('a.run-id', { href: `#/runs/${id}` }, id);
  const status = h('span.status');
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Progress of ${id}` });
  const pct = h('span.pct', { 'aria-hidden': 'true' });
  const cancel = h('button.btn.btn-small.btn-danger', { type: 'button', onclick: () => cancelRun(id) }, 'Cancel');
  cancel.setAttribute('aria-label', `Cancel run ${id}`);
  const pick = h('input', { type: 'checkbox', checked: selection.has(id), onchange: (ev) => onSelect(id, ev.target.checked) });
  pick.setAttribute('aria-label', `Select ${id} for comparison`);
  const cells = {
    pair: cell('Pair'), timeframe: cell('Timeframe'), strategy: cell('Strategy'), started: cell('Started'),
    duration: cell('Duration'), pnl: cell('PnL'),
  };
  const tr = h('tr', { dataset: { id } },
    cell('Run', link), cells.pair, cells.timeframe, cells.strategy, cell('Status', status),
    cell('Progress', h('span.progress', {}, bar, pct)), cells.started, cells.duration, cells.pnl,
    cell('Actions', h('span.actions', {}, h('label.pick', {}, pick, h('span', {}, 'Compare')), cancel)));
  const unguard = guardButton(cancel);
  return { tr, status, bar, pct, cancel, pick, cells, unguard, key: '' };
}

function fillRow(row, run, now) {
  const active = ACTIVE.has(run.status);
  const key = JSON.stringify([run.status, run.progress, run.finishedAt, run.stats && runPnl(run), active ? now : 0]);
  if (key === row.key) return;
  row.key = key;
  row.tr.dataset.status = run.status;
  row.status.textContent = run.status;
  row.status.className = `status status-${run.status}`;
  if (run.error) row.status.title = run.error;
  const progress = run.status === 'done' ? 1 : Math.max(0, Math.min(1, Number(run.progress) || 0));
  row.bar.value = progress;
  row.pct.textContent = `${Math.round(progress * 100)} %`;
  row.cells.pair.textContent = run.pair ?? '';
  row.cells.timeframe.textContent = run.timeframe ?? '';
  row.cells.strategy.textContent = run.strategy ?? '';
  row.cells.started.textContent = fmtTime(run.startedAt);
  row.cells.duration.textContent = fmtDuration(durationOf(run, now));
  const pnl = runPnl(run);
  row.cells.pnl.textContent = Number.isFinite(pnl) ? fmtSigned(pnl) : run.status === 'failed' ? (run.error || 'failed') : '—';
  row.cells.pnl.className = Number.isFinite(pnl) ? (pnl > 0 ? 'gain' : pnl < 0 ? 'loss' : '') : 'muted';
  row.cancel.hidden = !active;
}

export function runsView(main, { store, live, catalog }) {
  const selection = new Set();
  let disposed = false;
  const rows = new Map();
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
  const count = h('span.muted');
  const table = h('table.runs', {},
    h('caption.sr-only', {}, 'Backtest runs, newest first'),
    h('thead', {}, h('tr', {}, ['Run', 'Pair', 'Timeframe', 'Strategy', 'Status', 'Progress', 'Started', 'Duration', 'PnL', 'Actions']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);

  main.replaceChildren(
    h('div.toolbar', {},
      h('h1', { tabIndex: -1 }, 'Backtest runs'), count,
      h('span.spacer'), compareHint, compareBtn, newBtn),
    mutationReason,
    formPanel,
    h('div.table-wrap', {}, table),
    empty);

  const render = () => {
    const now = store.now();
    const runs = store.sorted().slice(0, MAX_ROWS);
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
    empty.hidden = runs.length > 0;
    table.hidden = runs.length === 0;
    count.textContent = `${store.runs.size} run${store.runs.size === 1 ? '' : 's'}`;
  };
  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  };
  store.addEventListener('change', schedule);
  const ticker = setInterval(schedule, 1000); // durations of runs in flight
  render();
  if (location.hash === '#/new') openForm(true);

  return () => {
    disposed = true;
    store.removeEventListener('change', schedule);
    clearInterval(ticker);
    cancelAnimationFrame(frame);
    unguardReason();
    rows.forEach((r) => r.unguard());
    if (form) form.destroy();
  };
}
