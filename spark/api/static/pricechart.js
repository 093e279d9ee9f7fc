// The report's chart, on the shared chart module (charts.js, loaded here lazily): a price pane (OHLC candles, entry
// and exit markers at their fill prices, the strategy's overlay lines), a pane per other plot the strategy declares
// (e.g. RSI with its thresholds), the equity pane with buy and hold and a log-scale toggle, and the drawdown pane,
// all on one time axis. The first answer covers the whole run cut down to about one point per pixel; zooming or
// panning asks the server for the visible window at full resolution (debounced; an older answer arriving after a
// newer request is dropped) and draws it inside the overview. A 409 from the price route (the data file changed
// since the run) is said plainly in place of the price pane; the equity panes still draw.

import { ApiError, api, routes } from './api.js';
import { h } from './format.js';

const PLOT_COLORS = ['#f59e0b', '#8b5cf6', '#0ea5e9', '#ec4899', '#14b8a6'];
const FULL = 0.9; // a visible window this share of the run or more is drawn from the overview
const MARGIN = 0.5; // a zoom fetches this much of its span again on each side, so a small pan needs nothing new

export const pointsForWidth = (width) => Math.max(200, Math.min(4000, Math.round(width * (window.devicePixelRatio || 1))));

/** Decimals for prices: the instrument's precision from the server, bounded for display. */
export const priceDecimals = (precision) => Math.max(0, Math.min(8, Number.isInteger(precision) ? precision : 2));

const fmtPrice = (v, d) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');
const signedMoney = (v) => (Number.isFinite(v) ? `${v > 0 ? '+' : v < 0 ? '−' : ''}${fmtMoney(Math.abs(v))}` : '—');
const fmtMoney = (v) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '—');

export function priceChart(box, { id, signal }) {
  const panesEl = h('div.panes');
  const readout = h('p.readout', { 'aria-live': 'off' });
  const notice = h('p.reason', { hidden: true, role: 'status' });
  const logBox = h('input', { type: 'checkbox', id: 'equity-log' });
  const toolbar = h('div.chart-tools', {},
    h('label.pick', { for: 'equity-log' }, logBox, h('span', {}, 'Log scale (equity)')),
    h('button.btn.btn-small', { type: 'button', id: 'chart-reset', onclick: () => reset() }, 'Show the whole run'),
    h('span.muted.zoom-state', { 'aria-live': 'polite' }));
  const zoomState = toolbar.querySelector('.zoom-state');
  const credit = h('p.muted.note.credit');
  let panes = null;
  let charts = null;
  let destroyed = false;
  let overview = null; // {ohlc, equity}: the whole run
  let detail = null; // {from, to, full: bool}: the window drawn at full resolution, or null
  let inflight = null;
  const sequence = { value: 0 };
  const s = {}; // the series by role: candles, overlays [{plot, series}], lines [{plot, series}], equity, bench, dd
  let decimals = 2;

  /** Resolves once drawn; rejects (nothing added to `box`) when the equity curve cannot be had, e.g. a 404 while
   * the run is not done. The library and both answers are fetched at once. */
  const ready = (async () => {
    const points = pointsForWidth(box.clientWidth || 800);
    const library = Promise.all([import('./charts.js'), import('./vendor/lightweight-charts.mjs')]); // in parallel
    library.catch(() => {});
    const [ohlc, equity] = await Promise.all([
      api(routes.ohlc(id, points), { signal }).catch((err) => ({ failed: err })),
      api(routes.equity(id, points), { signal }),
    ]);
    [charts] = await library;
    if (destroyed) return;
    box.append(toolbar, notice, panesEl, readout, credit);
    credit.textContent = charts.ATTRIBUTION;
    if (ohlc.failed) {
      if (ohlc.failed.name === 'AbortError') return;
      notice.hidden = false;
      notice.dataset.status = String(ohlc.failed.status || 0);
      notice.textContent = ohlc.failed instanceof ApiError && ohlc.failed.status === 409
        ? `The price chart cannot be drawn: ${ohlc.failed.message}`
        : `The price chart could not be loaded: ${ohlc.failed.message}`;
    }
    overview = { ohlc: ohlc.failed ? null : ohlc, equity };
    const t0 = performance.now();
    build(overview.ohlc);
    panes.hold(() => draw(overview.ohlc, overview.equity));
    panes.fit();
    const t1 = performance.now();
    await frames(2);
    performance.measure('spark-report-build', { start: t0, end: t1 });
    performance.measure('spark-report-paint', { start: t1 });
    box.dataset.drawn = 'true';
    box.dataset.points = String((overview.ohlc ? overview.ohlc.timestamp.length : 0) + equity.timestamp.length);
    performance.mark('spark-report-drawn');
  })();

  function build(ohlc) {
    const c = charts.themeColors();
    const wide = box.clientWidth >= 700;
    panes = charts.createPanes(panesEl, { readout, onRange: (range) => zoom(range), rangeDelayMs: 120 });
    const plots = (ohlc && ohlc.plots) || [];
    const paneNames = [...new Set(plots.map((p) => p.pane).filter((p) => p !== 'price'))];
    if (ohlc) {
      decimals = priceDecimals(ohlc.precision);
      box.dataset.decimals = String(decimals);
      const price = panes.add('price', { height: wide ? 340 : 260, title: `Price (${(ohlc.plots || []).filter((p) => p.pane === 'price').map((p) => p.label).join(', ') || 'candles'})`, timeAxis: false });
      s.candles = price.candles({ priceFormat: { type: 'price', precision: decimals, minMove: 10 ** -decimals } });
      s.overlays = plots.filter((p) => p.pane === 'price').map((plot, i) => ({
        plot, series: price.line({ color: plot.color || PLOT_COLORS[i % PLOT_COLORS.length], lineWidth: 1, title: plot.label,
          priceFormat: { type: 'price', precision: decimals, minMove: 10 ** -decimals } }) }));
    }
    s.lines = [];
    for (const name of paneNames) {
      const pane = panes.add(name, { height: wide ? 120 : 100, title: plots.filter((p) => p.pane === name).map((p) => p.label).join(', '), timeAxis: false });
      plots.filter((p) => p.pane === name).forEach((plot, i) => {
        const series = pane.line({ color: plot.color || PLOT_COLORS[i % PLOT_COLORS.length], lineWidth: 1, title: plot.label });
        for (const level of plot.levels || []) series.level(level, { color: c.muted, title: String(level) });
        s.lines.push({ plot, series });
      });
    }
    const eq = panes.add('equity', { height: wide ? 200 : 160, title: 'Equity and buy and hold', timeAxis: false });
    s.equity = eq.line({ color: c.series1, title: 'Equity', lastValueVisible: true, priceFormat: { type: 'price', precision: 2, minMove: 0.01 } });
    s.bench = eq.line({ color: c.muted, lineWidth: 1, lineStyle: charts.lib.LineStyle.Dashed, title: 'Buy and hold', priceFormat: { type: 'price', precision: 2, minMove: 0.01 } });
    const dd = panes.add('drawdown', { height: wide ? 110 : 90, title: 'Drawdown %', timeAxis: true });
    s.dd = dd.baseline({ baseValue: { type: 'price', price: 0 }, topLineColor: c.down, topFillColor1: `${c.down}55`, topFillColor2: `${c.down}22`,
      bottomLineColor: c.down, priceFormat: { type: 'custom', formatter: (v) => `${v.toFixed(2)} %`, minMove: 0.01 } });
    dd.chart.priceScale('right').applyOptions({ invertScale: true });
    logBox.addEventListener('change', () => panes.setLog('equity', logBox.checked));
    panes.onReadout((time, at) => readoutFor(time, at));
  }

  /** Draw an answer pair; with `win` ({from, to} ms) the answers are a window merged into the overview. */
  function draw(ohlc, equity, win = null) {
    const merge = (whole, part) => (win ? charts.mergeWindow(whole, part, charts.seconds(win.from), charts.seconds(win.to)) : part);
    const ov = overview;
    if (s.candles && ohlc) {
      const candles = merge(win ? charts.toCandles(ov.ohlc) : [], charts.toCandles(ohlc));
      s.candles.setData(candles);
      for (const { plot, series } of [...s.overlays, ...s.lines]) {
        series.setData(merge(win ? charts.toLine(ov.ohlc.timestamp, ov.ohlc.indicators[plot.name] || []) : [],
          charts.toLine(ohlc.timestamp, ohlc.indicators[plot.name] || [])));
      }
      const markerList = win
        ? [...ov.ohlc.markers.filter((m) => m.ts < win.from || m.ts > win.to), ...ohlc.markers].sort((a, b) => a.ts - b.ts)
        : ohlc.markers;
      s.markerSource = markerList;
      s.candleData = candles;
      paintMarkers();
      s.markerList = markerList.map((m) => ({ ...m, time: charts.snapTime(candles, charts.seconds(m.ts)) }));
      box.dataset.markers = String(markerList.length);
    }
    s.equity.setData(merge(win ? charts.toLine(ov.equity.timestamp, ov.equity.equity) : [], charts.toLine(equity.timestamp, equity.equity)));
    const bench = (doc) => (doc.benchmark ? charts.toLine(doc.timestamp, doc.benchmark) : []);
    s.bench.setData(merge(win ? bench(ov.equity) : [], bench(equity)));
    s.dd.setData(merge(win ? charts.toLine(ov.equity.timestamp, ov.equity.drawdownPct) : [], charts.toLine(equity.timestamp, equity.drawdownPct)));
  }

  /** Trade markers (about one per two pixels: more only overlap, and cost every frame; the readout keeps all)
   * and the risk gates' denials (a square above the bar: denied in the warning colour, logged muted). */
  function paintMarkers() {
    const candles = s.candleData;
    const colors = charts.themeColors(); // once: reading the CSS variables per marker costs a style pass each
    const budget = Math.max(50, Math.round((box.clientWidth || 800) / 2));
    const drawn = thin(s.markerSource, budget);
    const denials = thin(s.denials || [], Math.max(25, Math.round(budget / 4)));
    s.candles.markers([
      ...drawn.map((m) => markerOf(m, candles, drawn.length, colors)),
      ...denials.map((d, i) => denialMarker(d, i, candles, denials.length, colors)),
    ].filter((m) => m.time !== null).sort((a, b) => a.time - b.time));
    box.dataset.markersDrawn = String(drawn.length);
    box.dataset.denialsDrawn = String(denials.length);
  }

  function denialMarker(d, i, candles, count, c) {
    const logged = d.action === 'log';
    return { time: charts.snapTime(candles, charts.seconds(d.ts)), position: 'aboveBar', shape: 'square', size: 0.8,
      color: logged ? c.muted : c.warn, text: count <= 60 ? (logged ? 'logged' : 'denied') : undefined, id: `d${i}` };
  }

  function markerOf(m, candles, count, c) {
    const time = charts.snapTime(candles, charts.seconds(m.ts));
    const long = m.side === 'long';
    if (m.kind === 'entry') {
      return { time, position: long ? 'atPriceBottom' : 'atPriceTop', price: m.price, shape: long ? 'arrowUp' : 'arrowDown',
        color: long ? c.series1 : c.series2, text: count <= 120 ? (long ? 'L' : 'S') : undefined, id: `e${m.trade}` };
    }
    return { time, position: 'atPriceMiddle', price: m.price, shape: 'circle', color: m.pnl >= 0 ? c.up : c.down, size: 0.8, id: `x${m.trade}` };
  }

  function readoutFor(time, at) {
    const parts = [];
    const stamp = new Date(time * 1000).toISOString().replace('T', ' ').slice(0, 16);
    parts.push(h('strong', {}, `${stamp} UTC`));
    const candle = s.candles ? at(s.candles) : null;
    if (candle) parts.push(`O ${fmtPrice(candle.open, decimals)} H ${fmtPrice(candle.high, decimals)} L ${fmtPrice(candle.low, decimals)} C ${fmtPrice(candle.close, decimals)}`);
    for (const { plot, series } of [...(s.overlays || []), ...s.lines]) {
      const p = at(series);
      if (p) parts.push(`${plot.label} ${plot.pane === 'price' ? fmtPrice(p.value, decimals) : p.value.toFixed(2)}`);
    }
    const eq = at(s.equity);
    const bh = at(s.bench);
    const dd = at(s.dd);
    if (eq) parts.push(`equity ${fmtMoney(eq.value)}`);
    if (bh) parts.push(`buy and hold ${fmtMoney(bh.value)}`);
    if (dd) parts.push(`drawdown ${dd.value.toFixed(2)} %`);
    const here = candle && s.markerList ? s.markerList.filter((m) => m.time === candle.time) : [];
    const trades = here.map((m) => h('span.trade-note', { dataset: { trade: String(m.trade) } },
      `trade #${m.trade} ${m.side} ${m.kind} at ${fmtPrice(m.price, decimals)} (qty ${m.qty.toLocaleString('en-US', { maximumFractionDigits: 6 })}${m.kind === 'exit' || m.open ? `, PnL ${signedMoney(m.pnl)}` : ''})`));
    const gated = candle && s.denials ? s.denials.filter((d) => charts.snapTime(s.candleData, charts.seconds(d.ts)) === candle.time) : [];
    const gates = gated.map((d) => h('span.denial-note', { dataset: { bar: String(d.bar) } },
      `${d.action === 'log' ? 'logged' : 'denied'}: ${d.side} ${d.qty.toLocaleString('en-US', { maximumFractionDigits: 6 })} (${d.reason})`));
    trades.push(...gates);
    const out = h('span', {});
    parts.forEach((p, i) => { if (i) out.append(' · '); out.append(p); });
    if (trades.length) out.append(h('br'), ...trades.flatMap((t, i) => (i ? [' · ', t] : [t])));
    return out;
  }

  const span = () => {
    const t = overview.equity.timestamp;
    return t.length ? { from: t[0], to: t[t.length - 1] } : null;
  };

  async function zoom(range) {
    if (destroyed || !overview || !range) return;
    const whole = span();
    if (!whole) return;
    const width = range.to - range.from;
    if (width >= FULL * (whole.to - whole.from)) {
      if (detail) {
        detail = null;
        sequence.value += 1;
        if (inflight) inflight.abort();
        swap(() => draw(overview.ohlc, overview.equity));
        zoomState.textContent = '';
      }
      return;
    }
    const slack = width * 0.02; // bucket edges move a window by a bar or two when it is drawn: not a new window
    const inside = detail && range.from >= detail.from - slack && range.to <= detail.to + slack;
    if (inside && (detail.full || width > (detail.to - detail.from) / 3)) return; // what is drawn is fine enough
    let from = Math.max(whole.from, Math.floor(range.from - width * MARGIN));
    let to = Math.min(whole.to, Math.ceil(range.to + width * MARGIN));
    if (to - from >= FULL * (whole.to - whole.from)) { // no room for a margin: the visible window alone
      from = Math.max(whole.from, Math.floor(range.from));
      to = Math.min(whole.to, Math.ceil(range.to));
    }
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const token = ++sequence.value;
    const points = pointsForWidth(box.clientWidth || 800);
    const started = performance.now();
    try {
      const abort = inflight.signal;
      const [ohlc, equity] = await Promise.all([
        overview.ohlc ? api(routes.ohlc(id, points, from, to), { signal: abort }) : Promise.resolve(null),
        api(routes.equity(id, points, from, to), { signal: abort }),
      ]);
      if (destroyed || token !== sequence.value) return; // a newer window was asked for meanwhile
      detail = { from, to, full: (!ohlc || ohlc.total <= points) && equity.total <= points };
      swap(() => draw(ohlc, equity, { from, to }));
      await frames(2);
      if (destroyed || token !== sequence.value) return;
      zoomState.textContent = `Window of ${(ohlc || equity).total.toLocaleString('en-US')} bars ${detail.full ? 'drawn bar by bar' : 'cut down to the screen'}`;
      box.dataset.window = `${from}-${to}`;
      box.dataset.zooms = String(Number(box.dataset.zooms || 0) + 1);
      performance.measure('spark-zoom', { start: started, detail: { from, to } });
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (token === sequence.value) zoomState.textContent = `Could not load that window: ${err.message}`;
    }
  }

  /** Replace the data keeping the window the user looks at (setData alone would move it). */
  function swap(fn) {
    const visible = panes.visibleRange();
    panes.hold(() => {
      fn();
      if (visible) panes.setVisibleRange(visible.from, visible.to);
    });
  }

  function reset() {
    if (!panes) return;
    panes.fit();
    zoom(span());
  }

  return {
    ready,
    /** Mark the risk gates' denials and logged violations (rows of GET /api/backtest/<id>/denied). */
    denials(rows) {
      s.denials = rows;
      box.dataset.denials = String(rows.length);
      if (s.candles && s.candleData) paintMarkers();
    },
    destroy() {
      destroyed = true;
      if (inflight) inflight.abort();
      if (panes) panes.destroy();
    },
  };
}

/** At most `budget` items spread evenly over `list` (its first and last kept). */
function thin(list, budget) {
  if (list.length <= budget) return list;
  return Array.from({ length: budget }, (_, i) => list[Math.round((i * (list.length - 1)) / (budget - 1))]);
}

function frames(n) {
  return new Promise((resolve) => {
    const step = (k) => (k ? requestAnimationFrame(() => step(k - 1)) : resolve());
    step(n);
  });
}

