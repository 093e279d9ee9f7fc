// The trades table of a report: read from the run's trades CSV artifact (small even for long runs), sortable
// by any column, paged.

import { fmtTime, h, humanize } from './format.js';

const PAGE = 25;

/** RFC 4180 CSV -> array of rows (arrays of strings). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 1; } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field); field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** Trades as {columns, rows} from CSV text or from an array of objects (the result document's trades). */
export function tradesFrom(source) {
  if (typeof source === 'string') {
    const [header = [], ...body] = parseCsv(source);
    return { columns: header, rows: body.map((r) => r.map(cellValue)) };
  }
  const list = Array.isArray(source) ? source : [];
  const columns = [];
  for (const t of list.slice(0, 50)) for (const k of Object.keys(t || {})) if (!columns.includes(k)) columns.push(k);
  const flat = columns.filter((c) => list.every((t) => t === null || typeof t[c] !== 'object' || t[c] === null));
  return { columns: flat, rows: list.map((t) => flat.map((c) => cellValue(t ? t[c] : ''))) };
}

function cellValue(v) {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  const text = String(v ?? '');
  if (text !== '' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  return text;
}

const isTimeColumn = (name, values) => /(time|Time|At$|_at$|^ts$|_ts$|Ts$|date|Date)/.test(name)
  && values.some((v) => typeof v === 'number') && values.every((v) => typeof v !== 'number' || v > 1e11);

function show(v, time) {
  if (v === null || v === '') return '';
  if (typeof v === 'number') {
    if (time) return fmtTime(v);
    return Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : String(Number(v.toPrecision(6)));
  }
  return String(v);
}

export function tradesTable({ columns, rows }) {
  const wrap = h('div.trades');
  if (!rows.length) {
    wrap.append(h('p.muted', {}, 'No trades in this run.'));
    return wrap;
  }
  const times = columns.map((c, i) => isTimeColumn(c, rows.slice(0, 100).map((r) => r[i])));
  const numeric = columns.map((_, i) => rows.every((r) => typeof r[i] === 'number' || r[i] === '' || r[i] === null));
  let sortCol = -1;
  let dir = 1;
  let page = 0;
  let order = rows;
  const headButtons = columns.map((c, i) => h('button.sort', { type: 'button', onclick: () => sortBy(i) }, humanize(c)));
  const ths = columns.map((c, i) => h(`th${numeric[i] ? '.num' : ''}`, { scope: 'col', 'aria-sort': 'none' }, headButtons[i]));
  const tbody = h('tbody');
  const pageInfo = h('span.muted', { 'aria-live': 'polite' });
  const prev = h('button.btn.btn-small', { type: 'button', onclick: () => go(page - 1) }, 'Previous');
  const next = h('button.btn.btn-small', { type: 'button', onclick: () => go(page + 1) }, 'Next');
  const pages = () => Math.max(1, Math.ceil(order.length / PAGE));

  function draw() {
    const slice = order.slice(page * PAGE, page * PAGE + PAGE);
    tbody.replaceChildren(...slice.map((r) => h('tr', {}, r.map((v, i) => h(`td${numeric[i] ? '.num' : ''}`, { dataset: { label: humanize(columns[i]) } }, show(v, times[i]))))));
    pageInfo.textContent = `Page ${page + 1} of ${pages()} · ${order.length} trades`;
    prev.disabled = page === 0;
    next.disabled = page >= pages() - 1;
  }
  function go(p) {
    page = Math.max(0, Math.min(pages() - 1, p));
    draw();
  }
  function sortBy(i) {
    dir = sortCol === i ? -dir : 1;
    sortCol = i;
    const cmp = numeric[i]
      ? (a, b) => ((a[i] ?? -Infinity) - (b[i] ?? -Infinity)) * dir
      : (a, b) => String(a[i]).localeCompare(String(b[i])) * dir;
    order = [...rows].sort(cmp);
    ths.forEach((th, k) => th.setAttribute('aria-sort', k === i ? (dir > 0 ? 'ascending' : 'descending') : 'none'));
    go(0);
  }

  wrap.append(
    h('div.table-wrap', {}, h('table.data', {}, h('thead', {}, h('tr', {}, ths)), tbody)),
    h('div.pager', {}, prev, pageInfo, next));
  draw();
  return wrap;
}
