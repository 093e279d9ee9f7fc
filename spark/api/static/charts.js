// Linked chart panes on the vendored TradingView lightweight-charts (static/vendor/, Apache-2.0). Views import this
// module lazily (`const charts = await import('./charts.js')`), so the library is fetched only by views that chart
// and the runs list stays light. Every view that charts uses it: the report, compare, sweep, live and guardrail views.
//
// Exported:
//   createPanes(container, {readout?, onRange?, rangeDelayMs?}) -> Panes
//     A stack of panes (one chart each) on one time axis: zoom or pan any pane and all follow; the crosshair is
//     drawn on every pane at the hovered time; `readout` (an element) shows the text `Panes.onReadout` builds.
//     `onRange({from, to})` (epoch ms, debounced by rangeDelayMs, 150 by default) is told when the user changed
//     the visible window, for views that then ask the server for that window at full resolution.
//   Panes:
//     .add(id, {height, title?, timeAxis?}) -> Pane            a pane, stacked below the others
//     .pane(id) -> Pane; .panes -> Pane[]
//     .setLog(id, on)                                         log or linear price scale on that pane
//     .onReadout(fn(timeSec, at) -> string | Node)            at(series) -> that series' point at the time, or null
//     .visibleRange() -> {from, to} | null                    epoch ms
//     .setVisibleRange(fromMs, toMs), .fit(), .hold(fn)       hold: run fn without telling onRange (a data swap)
//     .align()                                                price axes as wide as the widest (after hold: itself)
//     .destroy()
//   Pane: .chart (the library's IChartApi), .el, .id, and series makers, each returning a Series:
//     .candles(options), .line(options), .area(options), .baseline(options), .histogram(options)
//   Series: .api (ISeriesApi), .setData(points), .data (the points), .markers(list), .level(price, options)
//     points: [{time: seconds, value}] or candles [{time, open, high, low, close}], times strictly increasing.
//   lib                       the library's module (LineStyle, PriceScaleMode, ...)
//   seconds(ms), toLine(timestampsMs, values) -> points (nulls skipped), toCandles(doc) -> points,
//   at(points, timeSec) -> the last point at or before the time (binary search), or null,
//   snapTime(points, timeSec) -> that point's time (for markers, which must sit on a bar), or null,
//   mergeWindow(overview, detail, fromSec, toSec) -> overview points outside the window + detail's inside it,
//   debounce(fn, ms) -> fn with .cancel(); latest() -> {next() -> token, current(token) -> bool} (stale answers),
//   themeColors(el) -> the dashboard's palette from its CSS variables.

import * as lib from './vendor/lightweight-charts.mjs';

export { lib };

/** The credit line views show under their charts (the library's own logo is off, see below). */
export const ATTRIBUTION = 'Charts: TradingView Lightweight Charts™ (Apache-2.0)';

const PRICE_SCALE_WIDTH = 86; // every pane's price axis equally wide, so plots line up under each other

export const seconds = (ms) => Math.floor(ms / 1000);

/** Line points from columns: null / non-finite values are left out (a gap), times kept strictly increasing. */
export function toLine(timestamps, values) {
  const out = [];
  let last = -Infinity;
  for (let i = 0; i < timestamps.length; i += 1) {
    const time = seconds(timestamps[i]);
    const value = values[i];
    if (time <= last || value === null || !Number.isFinite(value)) continue;
    out.push({ time, value });
    last = time;
  }
  return out;
}

/** Candle points from an OHLC answer ({timestamp, open, high, low, close}). */
export function toCandles(doc) {
  const out = [];
  let last = -Infinity;
  const n = (doc && doc.timestamp) ? doc.timestamp.length : 0;
  for (let i = 0; i < n; i += 1) {
    const time = seconds(doc.timestamp[i]);
    if (time <= last) continue;
    out.push({ time, open: doc.open[i], high: doc.high[i], low: doc.low[i], close: doc.close[i] });
    last = time;
  }
  return out;
}

/** Index of the last point whose time is <= timeSec, or -1. */
function indexAt(points, timeSec) {
  let lo = 0;
  let hi = points.length - 1;
  if (hi < 0 || points[0].time > timeSec) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (points[mid].time <= timeSec) lo = mid; else hi = mid - 1;
  }
  return lo;
}

export function at(points, timeSec) {
  const i = indexAt(points, timeSec);
  return i < 0 ? null : points[i];
}

export function snapTime(points, timeSec) {
  const p = at(points, timeSec);
  return p ? p.time : (points.length ? points[0].time : null);
}

export function mergeWindow(overview, detail, fromSec, toSec) {
  if (!detail.length) return overview;
  const lo = Math.min(fromSec, detail[0].time);
  const hi = Math.max(toSec, detail[detail.length - 1].time);
  return [...overview.filter((p) => p.time < lo), ...detail, ...overview.filter((p) => p.time > hi)];
}

export function debounce(fn, ms) {
  let timer = 0;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function latest() {
  let seq = 0;
  return { next: () => { seq += 1; return seq; }, current: (token) => token === seq };
}

export function themeColors(el = document.documentElement) {
  const css = getComputedStyle(el);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    fg: v('--fg', '#1d2330'), muted: v('--muted', '#5b6474'), grid: v('--grid', 'rgba(120,130,150,.25)'),
    line: v('--line', '#d9dde4'), card: v('--card', '#fff'), up: v('--ok', '#137333'), down: v('--danger', '#b42318'),
    series1: v('--series-1', '#2563eb'), series2: v('--series-2', '#d97706'), warn: v('--warn', '#9a6700'),
  };
}

class Series {
  constructor(pane, api) {
    this.pane = pane;
    this.api = api;
    this.data = [];
    this.markerApi = null;
  }

  setData(points) {
    this.data = points;
    this.api.setData(points);
    return this;
  }

  /** Markers [{time, position, shape, color, text?, price?}] (times must be those of points of this series). */
  markers(list) {
    if (!this.markerApi) this.markerApi = lib.createSeriesMarkers(this.api, list, { autoScale: true });
    else this.markerApi.setMarkers(list);
    return this;
  }

  level(price, options = {}) {
    return this.api.createPriceLine({ price, lineWidth: 1, lineStyle: lib.LineStyle.Dashed, axisLabelVisible: true, ...options });
  }
}

class Pane {
  constructor(panes, id, { height, title, timeAxis }) {
    const colors = themeColors();
    this.panes = panes;
    this.id = id;
    this.height = height;
    this.series = [];
    this.el = document.createElement('div');
    this.el.className = 'pane';
    this.el.dataset.pane = id;
    if (title) {
      const label = document.createElement('span');
      label.className = 'pane-title';
      label.textContent = title;
      this.el.append(label);
    }
    panes.container.append(this.el);
    this.chart = lib.createChart(this.el, {
      height,
      autoSize: false,
      width: this.el.clientWidth || panes.container.clientWidth || 600,
      // attributionLogo off: it injects a <style> element, which the page's policy refuses; the views credit the
      // library in text instead (ATTRIBUTION)
      layout: { attributionLogo: false, background: { type: lib.ColorType.Solid, color: 'transparent' }, textColor: colors.muted, fontSize: 11,
        fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
      grid: { vertLines: { color: colors.grid }, horzLines: { color: colors.grid } },
      rightPriceScale: { minimumWidth: PRICE_SCALE_WIDTH, borderColor: colors.line },
      timeScale: { visible: timeAxis !== false, borderColor: colors.line, timeVisible: true, secondsVisible: false },
      crosshair: { mode: lib.CrosshairMode.Normal },
      localization: { timeFormatter: (t) => utcLabel(t) },
      handleScale: { axisPressedMouseMove: { time: true, price: true } },
    });
  }

  #add(type, options) {
    const s = new Series(this, this.chart.addSeries(type, { priceLineVisible: false, ...options }));
    this.series.push(s);
    return s;
  }

  candles(options = {}) {
    const c = themeColors();
    return this.#add(lib.CandlestickSeries, {
      upColor: c.up, downColor: c.down, borderUpColor: c.up, borderDownColor: c.down, wickUpColor: c.up, wickDownColor: c.down, ...options,
    });
  }

  line(options = {}) { return this.#add(lib.LineSeries, { lineWidth: 2, lastValueVisible: false, ...options }); }

  area(options = {}) { return this.#add(lib.AreaSeries, { lineWidth: 2, ...options }); }

  baseline(options = {}) { return this.#add(lib.BaselineSeries, { lineWidth: 1, ...options }); }

  histogram(options = {}) { return this.#add(lib.HistogramSeries, options); }
}

function utcLabel(timeSec) {
  const iso = new Date(timeSec * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

class Panes {
  constructor(container, { readout = null, onRange = null, rangeDelayMs = 150 } = {}) {
    this.container = container;
    this.readout = readout;
    this.panes = [];
    this.readoutFn = null;
    this.holding = 0;
    this.syncing = false;
    this.active = null; // the pane under the user's pointer or finger: only its range changes are passed on
    this.tellRange = onRange ? debounce((range) => onRange(range), rangeDelayMs) : null;
    this.resize = new ResizeObserver(() => this.#fitWidth());
    this.resize.observe(container);
  }

  add(id, options) {
    const pane = new Pane(this, id, options);
    this.panes.push(pane);
    const claim = () => { this.active = pane; };
    for (const name of ['pointerdown', 'pointerenter', 'wheel', 'touchstart']) pane.el.addEventListener(name, claim, { passive: true });
    pane.chart.timeScale().subscribeVisibleLogicalRangeChange(() => this.#rangeChanged(pane));
    pane.chart.subscribeCrosshairMove((param) => this.#crosshair(pane, param));
    return pane;
  }

  pane(id) {
    return this.panes.find((p) => p.id === id) || null;
  }

  setLog(id, on) {
    const pane = this.pane(id);
    if (pane) pane.chart.priceScale('right').applyOptions({ mode: on ? lib.PriceScaleMode.Logarithmic : lib.PriceScaleMode.Normal });
  }

  onReadout(fn) {
    this.readoutFn = fn;
  }

  visibleRange() {
    const pane = this.active || this.panes[0];
    const range = pane && pane.chart.timeScale().getVisibleRange();
    return range ? { from: Number(range.from) * 1000, to: Number(range.to) * 1000 } : null;
  }

  setVisibleRange(fromMs, toMs) {
    this.hold(() => {
      for (const p of this.panes) {
        if (p.series.some((s) => s.data.length)) p.chart.timeScale().setVisibleRange({ from: seconds(fromMs), to: seconds(toMs) });
      }
    });
  }

  fit() {
    this.hold(() => this.panes.forEach((p) => p.chart.timeScale().fitContent()));
  }

  /** Run fn (a data swap, a programmatic range) without telling onRange, and without one pane echoing another. */
  hold(fn) {
    this.holding += 1;
    try {
      fn();
    } finally {
      // The library reports range changes on its next frame: release after it.
      requestAnimationFrame(() => requestAnimationFrame(() => { this.holding -= 1; this.align(); }));
    }
  }

  /** Give every pane's price axis the width of the widest, so the plots (and the crosshair) line up. */
  align() {
    const widths = this.panes.map((p) => p.chart.priceScale('right').width());
    const widest = Math.max(PRICE_SCALE_WIDTH, ...widths);
    if (widths.every((w) => w === widest)) return;
    for (const p of this.panes) p.chart.applyOptions({ rightPriceScale: { minimumWidth: widest } });
  }

  destroy() {
    this.resize.disconnect();
    if (this.tellRange) this.tellRange.cancel();
    for (const p of this.panes) p.chart.remove();
    this.panes = [];
  }

  #fitWidth() {
    const width = this.container.clientWidth;
    for (const p of this.panes) if (width > 0) p.chart.resize(width, p.height);
  }

  #rangeChanged(source) {
    if (this.syncing || this.holding || (this.active && this.active !== source)) return;
    const range = source.chart.timeScale().getVisibleRange();
    if (!range) return;
    this.syncing = true;
    try {
      for (const p of this.panes) {
        if (p !== source && p.series.some((s) => s.data.length)) p.chart.timeScale().setVisibleRange(range);
      }
    } finally {
      this.syncing = false;
    }
    if (this.tellRange) this.tellRange({ from: Number(range.from) * 1000, to: Number(range.to) * 1000 });
  }

  #crosshair(source, param) {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const time = param && param.time !== undefined && param.point ? Number(param.time) : null;
      for (const p of this.panes) {
        if (p === source) continue;
        const s = p.series.find((x) => x.data.length);
        if (time === null || !s) { p.chart.clearCrosshairPosition(); continue; }
        const point = at(s.data, time);
        if (point) p.chart.setCrosshairPosition(point.value ?? point.close, point.time, s.api);
        else p.chart.clearCrosshairPosition();
      }
      if (this.readout) {
        const content = time === null || !this.readoutFn ? '' : this.readoutFn(time, (series) => at(series.data, time));
        this.readout.replaceChildren(content ?? '');
      }
    } finally {
      this.syncing = false;
    }
  }
}

export function createPanes(container, options = {}) {
  return new Panes(container, options);
}
