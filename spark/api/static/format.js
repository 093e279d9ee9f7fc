// Formatting and small DOM helpers shared by the views. Labels are English; numbers use a fixed style.

const NUM = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const NUM4 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 4 });
const SIGNED = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2, signDisplay: 'exceptZero' });

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local time as YYYY-MM-DD HH:MM:SS (unambiguous, locale-independent). */
export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(Math.floor(s % 60))} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${pad(m % 60)} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export const fmtNum = (v) => (Number.isFinite(v) ? (Math.abs(v) < 1 ? NUM4 : NUM).format(v) : '—');
export const fmtSigned = (v) => (Number.isFinite(v) ? SIGNED.format(v) : '—');

/** The difference b - a of one stat, in that stat's unit, signed. */
export function fmtStatDiff(key, a, b) {
  if (typeof a !== 'number' || typeof b !== 'number') return '';
  const d = b - a;
  const sign = d > 0 ? '+' : d < 0 ? '−' : '';
  if (/(Ms|_ms)$/.test(key)) return d === 0 ? '0' : `${sign}${fmtDuration(Math.abs(d))}`;
  if (/^(winRate|win_rate|expectancy)$/.test(key)) return `${fmtSigned(d * 100)} pp`;
  if (/(Pct|Percent|_pct|_percent)$/.test(key)) return `${fmtSigned(d)} pp`;
  return fmtSigned(d);
}

/** A stat value by its wire name, formatted by what the name says it is. */
export function fmtStat(key, value) {
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value !== 'number') return value === null || value === undefined ? '—' : String(value);
  if (/^(winRate|win_rate|expectancy)$/.test(key)) return `${fmtNum(value * 100)} %`; // fractions on the wire
  if (/(Pct|Percent|_pct|_percent)$/.test(key)) return `${fmtNum(value)} %`;
  if (/(Ms|_ms)$/.test(key)) return fmtDuration(value);
  if (/(pnl|Pnl|PnL)/.test(key)) return fmtSigned(value);
  return fmtNum(value);
}

/** camelCase or snake_case wire name -> "Sentence case" label. */
export function humanize(key) {
  const words = key.replace(/_/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().trim();
  const text = words.replace(/\bpct\b/g, '%').replace(/\bpnl\b/g, 'PnL').replace(/\bcagr\b/g, 'CAGR')
    .replace(/\bts\b/g, 'time').replace(/\bms\b/g, '').replace(/\bavg\b/g, 'average').trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A run's net PnL (its stats' `pnl`), once done. */
export const runPnl = (run) => (run && run.stats ? run.stats.pnl : undefined);

/** Create an element: h('a.link', {href}, 'text', child...). Attributes set as properties when they exist. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k.startsWith('aria-') || k === 'role' || k === 'for' || k === 'form' || k === 'list') el.setAttribute(k, v === true ? 'true' : v);
    else if (k in el) el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}
