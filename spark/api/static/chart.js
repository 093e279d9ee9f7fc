// Equity curves with their drawdown below, drawn on one canvas. Input is already downsampled by the server
// (GET .../equity?points=N, N about the canvas width in device pixels), so a draw is a few thousand line segments
// whatever the length of the run. One or more series share the axes (the compare view draws two).

const PAD = { left: 70, right: 14, top: 12, bottom: 24 };
const GAP = 22; // between the equity pane and the drawdown pane
const EQUITY_SHARE = 0.68;

/** Points to ask the server for: one per device pixel of plot width, bounded. */
export function pointsFor(canvas) {
  const width = canvas.parentElement ? canvas.parentElement.clientWidth : 800;
  return Math.max(200, Math.min(4000, Math.round(width * (window.devicePixelRatio || 1))));
}

/** The equity route's answer ({timestamp, equity, drawdownPct}: drawdown a positive percent) as chart columns. */
export function normalizeEquity(doc) {
  const equity = (doc && Array.isArray(doc.equity)) ? doc.equity : [];
  return {
    t: (doc && Array.isArray(doc.timestamp)) ? doc.timestamp : null,
    equity,
    drawdown: (doc && Array.isArray(doc.drawdownPct)) ? doc.drawdownPct : equity.map(() => 0),
  };
}

export class EquityChart {
  constructor(canvas, readout) {
    this.canvas = canvas;
    this.readout = readout;
    this.series = [];
    this.hover = null;
    this.resizeObserver = new ResizeObserver(() => this.draw());
    this.resizeObserver.observe(canvas.parentElement);
    this.onMove = (ev) => this.#pointer(ev);
    this.onLeave = () => {
      this.hover = null;
      this.draw();
      if (this.readout) this.readout.textContent = '';
    };
    canvas.addEventListener('pointermove', this.onMove);
    canvas.addEventListener('pointerleave', this.onLeave);
  }

  /** series: [{label, color?, t: number[]|null, equity: number[], drawdown: number[]}] */
  setSeries(series) {
    this.series = series.map((s) => prepare(s));
    this.draw();
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.canvas.removeEventListener('pointermove', this.onMove);
    this.canvas.removeEventListener('pointerleave', this.onLeave);
  }

  draw() {
    const { canvas } = this;
    const cssWidth = canvas.parentElement.clientWidth;
    const cssHeight = Math.max(220, Math.min(420, Math.round(cssWidth * 0.5)));
    const dpr = window.devicePixelRatio || 1;
    canvas.style.height = `${cssHeight}px`;
    if (canvas.width !== Math.round(cssWidth * dpr) || canvas.height !== Math.round(cssHeight * dpr)) {
      canvas.width = Math.round(cssWidth * dpr);
      canvas.height = Math.round(cssHeight * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    const colors = palette(canvas);
    const drawable = this.series.filter((s) => s.n > 0);
    if (!drawable.length) {
      ctx.fillStyle = colors.muted;
      ctx.font = '14px system-ui, sans-serif';
      ctx.fillText('No equity data for this run.', PAD.left, PAD.top + 20);
      canvas.dataset.drawn = 'empty';
      return;
    }
    const layout = this.#layout(cssWidth, cssHeight, drawable);
    this.layout = layout;
    drawAxes(ctx, layout, colors);
    drawable.forEach((s, i) => {
      const color = s.color || colors.series[(s.slot ?? i) % colors.series.length];
      drawDrawdown(ctx, layout, s, color);
      drawLine(ctx, layout, s, color);
    });
    if (this.hover !== null) drawHover(ctx, layout, drawable, this.hover, colors, this.readout);
    const points = drawable.reduce((n, s) => n + s.n, 0);
    if (canvas.dataset.drawn !== 'true') performance.mark('spark-chart-drawn', { detail: { points } }); // bench/
    canvas.dataset.drawn = 'true';
    canvas.dataset.points = String(points);
  }

  #layout(width, height, series) {
    const plotW = Math.max(10, width - PAD.left - PAD.right);
    const plotH = Math.max(40, height - PAD.top - PAD.bottom - GAP);
    const eqH = plotH * EQUITY_SHARE;
    const ddH = plotH - eqH;
    let x0 = Infinity; let x1 = -Infinity; let y0 = Infinity; let y1 = -Infinity; let dd0 = 0;
    for (const s of series) {
      x0 = Math.min(x0, s.x[0]);
      x1 = Math.max(x1, s.x[s.n - 1]);
      y0 = Math.min(y0, s.yMin);
      y1 = Math.max(y1, s.yMax);
      dd0 = Math.min(dd0, s.ddMin);
    }
    if (x1 === x0) x1 = x0 + 1;
    const span = y1 - y0 || Math.abs(y1) * 0.01 || 1;
    y0 -= span * 0.05;
    y1 += span * 0.05;
    if (dd0 === 0) dd0 = -1;
    const eqTop = PAD.top;
    const ddTop = PAD.top + eqH + GAP;
    return {
      width, height, plotW, eqTop, eqH, ddTop, ddH, x0, x1, y0, y1, dd0,
      timeAxis: series.every((s) => s.hasTime),
      sx: (x) => PAD.left + ((x - x0) / (x1 - x0)) * plotW,
      sy: (y) => eqTop + eqH - ((y - y0) / (y1 - y0)) * eqH,
      sdd: (d) => ddTop + (d / dd0) * ddH,
      invX: (px) => x0 + ((px - PAD.left) / plotW) * (x1 - x0),
    };
  }

  #pointer(ev) {
    if (!this.layout) return;
    const rect = this.canvas.getBoundingClientRect();
    const px = ev.clientX - rect.left;
    if (px < PAD.left || px > PAD.left + this.layout.plotW) return;
    this.hover = this.layout.invX(px);
    this.draw();
  }
}

function prepare(s) {
  const equity = Array.from(s.equity || [], Number);
  const n = equity.length;
  const hasTime = Array.isArray(s.t) && s.t.length === n && n > 0 && s.t.every(Number.isFinite);
  const x = hasTime ? Float64Array.from(s.t) : Float64Array.from({ length: n }, (_, i) => (n > 1 ? i / (n - 1) : 0));
  const rawDd = Array.from(s.drawdown || [], Number);
  // Drawdown is a positive percent below the peak on every surface: plotted downwards.
  const dd = Float64Array.from({ length: n }, (_, i) => (Number.isFinite(rawDd[i]) ? -rawDd[i] : 0));
  let yMin = Infinity; let yMax = -Infinity; let ddMin = 0;
  for (let i = 0; i < n; i += 1) {
    const v = equity[i];
    if (Number.isFinite(v)) {
      if (v < yMin) yMin = v;
      if (v > yMax) yMax = v;
    }
    if (dd[i] < ddMin) ddMin = dd[i];
  }
  return { label: s.label, color: s.color, slot: s.slot, n, x, y: Float64Array.from(equity), dd, yMin, yMax, ddMin, hasTime };
}

function palette(canvas) {
  const css = getComputedStyle(canvas);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    fg: v('--fg', '#1d2330'),
    muted: v('--muted', '#5b6474'),
    grid: v('--grid', 'rgba(120,130,150,0.25)'),
    series: [v('--series-1', '#2563eb'), v('--series-2', '#d97706')],
  };
}

function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 2 });

function xLabel(layout, x) {
  if (!layout.timeAxis) return `${Math.round(x * 100)} %`;
  const d = new Date(x);
  const pad = (n) => String(n).padStart(2, '0');
  const span = layout.x1 - layout.x0;
  if (span < 3 * 86400e3) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function pointLabel(L, x) {
  if (!L.timeAxis) return `${(x * 100).toFixed(1)} % of the run`;
  const d = new Date(x);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function drawAxes(ctx, L, colors) {
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.strokeStyle = colors.grid;
  ctx.fillStyle = colors.muted;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const right = PAD.left + L.plotW;
  for (const v of niceTicks(L.y0, L.y1, Math.max(2, Math.floor(L.eqH / 45)))) {
    const y = Math.round(L.sy(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(PAD.left, y); ctx.lineTo(right, y); ctx.stroke();
    ctx.fillText(compact.format(v), PAD.left - 6, y);
  }
  for (const v of niceTicks(L.dd0, 0, Math.max(1, Math.floor(L.ddH / 35)))) {
    const y = Math.round(L.sdd(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(PAD.left, y); ctx.lineTo(right, y); ctx.stroke();
    ctx.fillText(`${compact.format(v)} %`, PAD.left - 6, y);
  }
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText('Equity', PAD.left + 4, L.eqTop);
  ctx.fillText('Drawdown', PAD.left + 4, L.ddTop - 15);
  ctx.textAlign = 'center';
  const count = Math.max(2, Math.floor(L.plotW / 110));
  for (let i = 0; i <= count; i += 1) {
    const x = L.x0 + ((L.x1 - L.x0) * i) / count;
    const px = L.sx(x);
    ctx.textAlign = i === 0 ? 'left' : i === count ? 'right' : 'center';
    ctx.fillText(xLabel(L, x), px, L.ddTop + L.ddH + 6);
  }
}

function drawLine(ctx, L, s, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.lineJoin = 'round';
  ctx.beginPath();
  let pen = false;
  for (let i = 0; i < s.n; i += 1) {
    const v = s.y[i];
    if (!Number.isFinite(v)) { pen = false; continue; }
    const px = L.sx(s.x[i]); const py = L.sy(v);
    if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    pen = true;
  }
  ctx.stroke();
}

function drawDrawdown(ctx, L, s, color) {
  const base = L.sdd(0);
  ctx.beginPath();
  ctx.moveTo(L.sx(s.x[0]), base);
  for (let i = 0; i < s.n; i += 1) ctx.lineTo(L.sx(s.x[i]), L.sdd(s.dd[i]));
  ctx.lineTo(L.sx(s.x[s.n - 1]), base);
  ctx.closePath();
  ctx.globalAlpha = 0.22;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.beginPath(); // the outline follows the drawdown only, not the edges closing the area
  for (let i = 0; i < s.n; i += 1) {
    if (i === 0) ctx.moveTo(L.sx(s.x[i]), L.sdd(s.dd[i])); else ctx.lineTo(L.sx(s.x[i]), L.sdd(s.dd[i]));
  }
  ctx.strokeStyle = color;
  ctx.lineWidth = 1;
  ctx.stroke();
}

function nearest(xs, n, x) {
  let lo = 0; let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid; else hi = mid;
  }
  return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
}

function drawHover(ctx, L, series, x, colors, readout) {
  const px = Math.round(L.sx(x)) + 0.5;
  ctx.strokeStyle = colors.muted;
  ctx.setLineDash([3, 3]);
  ctx.beginPath(); ctx.moveTo(px, L.eqTop); ctx.lineTo(px, L.ddTop + L.ddH); ctx.stroke();
  ctx.setLineDash([]);
  const parts = [];
  series.forEach((s, i) => {
    const k = nearest(s.x, s.n, x);
    ctx.fillStyle = s.color || colors.series[(s.slot ?? i) % colors.series.length];
    ctx.beginPath(); ctx.arc(L.sx(s.x[k]), L.sy(s.y[k]), 3, 0, Math.PI * 2); ctx.fill();
    const name = series.length > 1 ? `${s.label}: ` : '';
    parts.push(`${name}${pointLabel(L, s.x[k])}: equity ${compact.format(s.y[k])}, drawdown ${s.dd[k].toFixed(2)} %`);
  });
  if (readout) readout.textContent = parts.join(' · ');
}
