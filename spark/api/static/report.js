// The report of one run: header (live status), stats, the chart (price with trades and indicators, equity with
// buy and hold, drawdown: pricechart.js), trades, a gated run's risk-gate denials (denials.js: a table, and markers
// on the chart), monthly returns, settings and fingerprint, artifact downloads.
// The chart is fetched first and drawn before anything else is loaded.

import { access, guardButton } from './access.js';
import { ApiError, api, routes } from './api.js';
import { denialsCard, firstPage } from './denials.js';
import { fmtBytes, fmtDuration, fmtStat, fmtTime, h, humanize } from './format.js';
import { monthlyTable } from './monthly.js';
import { priceChart, priceDecimals } from './pricechart.js';
import { cancelRun, durationOf } from './runs.js';
import { settingsList } from './settings.js';
import { tradesTable } from './trades.js';

const ACTIVE = new Set(['queued', 'running']);
const ARTIFACT_LABELS = { run: 'Run record (JSON)', result: 'Full result (JSON)', trades_csv: 'Trades (CSV)', equity_csv: 'Equity curve (CSV)' };

/** Stats of a detail answer or a run record: the record's `stats` (null until done). */
export function statsOf(detail) {
  return (detail && detail.stats) || {};
}

/** Numeric (and yes/no) stats as [key, value] in the server's order; texts such as the annualisation basis are
 * shown with the settings instead. */
export function scalarStats(stats) {
  return Object.entries(stats || {}).filter(([, v]) => v === null || ['number', 'boolean'].includes(typeof v));
}

export function statsGrid(stats) {
  const entries = scalarStats(stats);
  if (!entries.length) return h('p.muted', {}, 'No statistics yet.');
  return h('dl.stats', {}, entries.map(([k, v]) => h('div', { dataset: { stat: k } }, h('dt', {}, humanize(k)), h('dd', {}, fmtStat(k, v)))));
}

export function reportView(main, { store, live, id }) {
  let chart = null;
  let loaded = false;
  let loading = false;
  let again = false;
  let compareKey = null;
  let chartDone = Promise.resolve();
  let disposed = false;
  const controller = new AbortController();
  const title = h('h1', { tabIndex: -1 }, 'Run ', h('span.run-id', {}, id));
  const status = h('span.status');
  const meta = h('p.meta.muted');
  const progress = h('progress', { max: 1, value: 0, 'aria-label': 'Progress' });
  const progressText = h('span.muted');
  const progressRow = h('p.progress-row', { hidden: true }, progress, progressText);
  const errorBox = h('p.form-error', { hidden: true, role: 'alert' });
  const cancel = h('button.btn.btn-danger', { type: 'button', hidden: true, onclick: () => cancelRun(id) }, 'Cancel run');
  const cancelReason = h('span.reason', { hidden: true });
  const unguard = guardButton(cancel);
  const compareSelect = h('select', { id: 'compare-with' });
  const compareGo = h('button.btn', { type: 'button', onclick: () => { if (compareSelect.value) location.hash = `#/compare/${id}/${compareSelect.value}`; } }, 'Compare');
  const compareBox = h('span.compare-with', {}, h('label', { for: 'compare-with' }, 'Compare with'), compareSelect, compareGo);
  const statsBox = h('section.card', { 'aria-labelledby': 'stats-title' }, h('h2', { id: 'stats-title' }, 'Statistics'), h('p.muted', {}, 'Waiting for the run to finish…'));
  const chartBox = h('section.card.report-chart', { 'aria-labelledby': 'chart-title' }, h('h2', { id: 'chart-title' }, 'Price, trades, equity and drawdown'));
  const chartWait = h('p.muted', {}, 'Available when the run is done.');
  chartBox.append(chartWait);
  const tradesBox = h('section.card', { 'aria-labelledby': 'trades-title' }, h('h2', { id: 'trades-title' }, 'Trades'), h('p.muted', {}, 'Available when the run is done.'));
  const monthlyBox = h('section.card', { 'aria-labelledby': 'monthly-title' }, h('h2', { id: 'monthly-title' }, 'Monthly returns'), h('p.muted', {}, 'Available when the run is done.'));
  const settingsBox = h('section.card', { 'aria-labelledby': 'settings-title' }, h('h2', { id: 'settings-title' }, 'Settings and fingerprint'));
  const artifactsBox = h('section.card', { 'aria-labelledby': 'artifacts-title' }, h('h2', { id: 'artifacts-title' }, 'Downloads'), h('p.muted', {}, 'None yet.'));

  main.replaceChildren(
    h('p.crumbs', {}, h('a', { href: '#/' }, '← All runs')),
    h('div.toolbar', {}, title, status, h('span.spacer'), compareBox, cancel),
    cancelReason, meta, progressRow, errorBox,
    statsBox, chartBox, tradesBox, monthlyBox,
    h('div.two', {}, settingsBox, artifactsBox));

  const header = (run) => {
    status.textContent = run.status;
    status.className = `status status-${run.status}`;
    const active = ACTIVE.has(run.status);
    cancel.hidden = !active;
    const why = access.reason();
    cancelReason.textContent = why;
    cancelReason.hidden = !active || !why;
    const dur = fmtDuration(durationOf(run, store.now()));
    meta.textContent = [run.pair, run.timeframe, run.strategy, `started ${fmtTime(run.startedAt)}`, dur !== '—' ? `took ${dur}` : '']
      .filter(Boolean).join(' · ');
    progressRow.hidden = !active;
    progress.value = Number(run.progress) || 0;
    progressText.textContent = ` ${Math.round((Number(run.progress) || 0) * 100)} % (${run.status})`;
    errorBox.hidden = !run.error;
    errorBox.textContent = run.error ? `This run failed: ${run.error}` : '';
    const others = store.sorted().filter((r) => r.id !== id && r.status === 'done').slice(0, 100);
    const key = others.map((r) => r.id).join();
    if (key !== compareKey) { // rebuilt only when the choice changes, so an open select is left alone
      compareKey = key;
      const current = compareSelect.value;
      compareSelect.replaceChildren(...others.map((r) => h('option', { value: r.id, selected: r.id === current },
        `${r.id} · ${r.strategy || ''} ${r.pair || ''}`)));
    }
    compareBox.hidden = run.status !== 'done' || !others.length;
  };

  const failed = (err) => {
    if (disposed || (err && err.name === 'AbortError')) return;
    errorBox.hidden = false;
    errorBox.textContent = `Could not load the report: ${err.message}`;
  };

  /** The chart, asked for at once (before the detail and the stream's snapshot: a done run draws first); while the
   * run is not done the route answers 404 and the chart is asked for again once it is. */
  let chartState = 'idle'; // idle | loading | drawn
  const startChart = () => {
    if (chartState !== 'idle' || disposed) return chartDone;
    chartState = 'loading';
    const view = priceChart(chartBox, { id, signal: controller.signal });
    chart = view;
    chartDone = view.ready.then(() => {
      chartState = 'drawn';
      chartWait.remove();
    }, (err) => {
      view.destroy();
      if (chart === view) chart = null;
      chartState = 'idle';
      if (!(err instanceof ApiError && err.status === 404)) failed(err);
      else if (loaded && retries < 3) { // done meanwhile: its result may be a moment behind its record
        retries += 1;
        setTimeout(startChart, 300 * retries);
      }
    });
    return chartDone;
  };
  let retries = 0;

  /** Stats (from the record or the detail: the same summary), the chart, then trades, downloads and months. */
  const loadDone = (source) => {
    loaded = true;
    (async () => {
      try {
        statsBox.replaceChildren(h('h2', { id: 'stats-title' }, 'Statistics'), statsGrid(statsOf(source)));
        await startChart();
        if (disposed) return;
        const decimals = chartBox.dataset.decimals ? Number(chartBox.dataset.decimals) : priceDecimals(null);
        tradesBox.replaceChildren(h('h2', { id: 'trades-title' }, 'Trades'), tradesTable({ id, decimals, signal: controller.signal }));
        const gated = await firstPage(id, controller.signal).catch((err) => (err instanceof ApiError && err.status === 404 ? null : Promise.reject(err)));
        if (disposed) return;
        const gatesCard = denialsCard({ id, first: gated, decimals, signal: controller.signal });
        if (gatesCard) {
          tradesBox.after(gatesCard);
          if (chart) chart.denials(gated.denied);
        }
        const arts = await api(routes.artifacts(id), { signal: controller.signal });
        if (disposed) return;
        const list = (arts && arts.artifacts) || [];
        artifactsBox.replaceChildren(h('h2', { id: 'artifacts-title' }, 'Downloads'),
          list.length ? h('ul.artifacts', {}, list.map((a) => h('li', {},
            h('a', { href: a.url, download: a.name }, ARTIFACT_LABELS[a.type] || a.name), ' ', h('span.muted', {}, `${a.name} · ${fmtBytes(a.bytes)}`))))
            : h('p.muted', {}, 'No files for this run.'));
        const months = await monthlyTable({ id, signal: controller.signal });
        if (disposed) return;
        monthlyBox.replaceChildren(h('h2', { id: 'monthly-title' }, 'Monthly returns'), months);
      } catch (err) {
        failed(err);
      }
    })();
  };

  /** Read the detail (and, once the run is done, everything else); calls while one is in flight run once after. */
  const refresh = async () => {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      const detail = await api(routes.run(id), { signal: controller.signal });
      if (disposed) return;
      settingsBox.replaceChildren(h('h2', { id: 'settings-title' }, 'Settings and fingerprint'), settingsList(detail, statsOf(detail)));
      if (!store.get(id)) header(detail);
      if (detail.status === 'done' && !loaded) loadDone(detail);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && !loaded && !disposed) {
        main.replaceChildren(h('p.crumbs', {}, h('a', { href: '#/' }, '← All runs')), h('h1', { tabIndex: -1 }, 'Run not found'),
          h('p', {}, `There is no run ${id} on this server.`));
        return;
      }
      failed(err);
    } finally {
      loading = false;
      if (again && !disposed) {
        again = false;
        refresh();
      }
    }
  };

  let lastStatus = null;
  const onChange = () => {
    const run = store.get(id);
    if (!run) return;
    header(run);
    // A done run's record (from the stream) is enough for its stats and chart: no need to wait for the detail.
    if (run.status === 'done' && !loaded) loadDone(run);
    if (run.status !== lastStatus) {
      const changed = lastStatus !== null;
      lastStatus = run.status;
      if (changed) refresh(); // the settings and error of the new state
    }
  };
  store.addEventListener('change', onChange);
  const ticker = setInterval(onChange, 1000);
  // The chart first (a done run's curve needs nothing else); the detail, which can cost the server as much to
  // build as the curve, is asked for once the chart is drawn or known to wait for the run. A run the page does not
  // know yet (a cold load) waits briefly for the stream's snapshot, so a run in flight is not asked for its chart.
  // Fetched and compiled while the page waits for the snapshot (the chart imports them again: one module each).
  Promise.all([import('./charts.js'), import('./vendor/lightweight-charts.mjs')]).catch(() => {});
  const known = store.get(id)
    ? Promise.resolve()
    : Promise.race([live.ready, new Promise((resolve) => { setTimeout(resolve, 800); })]);
  known.then(async () => {
    if (disposed) return;
    const run = store.get(id);
    if (!run || run.status === 'done') await startChart();
    if (disposed) return;
    onChange();
    refresh();
  });

  return () => {
    disposed = true;
    controller.abort();
    store.removeEventListener('change', onChange);
    clearInterval(ticker);
    unguard();
    if (chart) chart.destroy();
  };
}
