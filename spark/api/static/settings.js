// The settings card of a report as readable rows: the strategy and its parameters, the data, each option said as
// a sentence, the engine's semantics (the sentences the result states), then the identifiers (fingerprint...).

import { fmtNum, fmtTime, h, humanize } from './format.js';

const money = (v) => v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const plain = (v) => (typeof v === 'number' ? fmtNum(v) : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v));
const pairs = (obj) => Object.entries(obj || {}).map(([k, v]) => `${k} ${v !== null && typeof v === 'object' ? JSON.stringify(v) : plain(v)}`).join(' · ');

/** Each option as a sentence, in the order a trader reads them; options it does not know are shown by name. */
export function optionSentences(options) {
  const o = { ...(options || {}) };
  const out = [];
  const take = (key) => { const v = o[key]; delete o[key]; return v; };
  const cash = take('cash');
  if (Number.isFinite(cash)) out.push(['Cash', `Starts with ${money(cash)} in cash.`]);
  const fee = take('fee');
  if (Number.isFinite(fee)) out.push(['Fee', fee ? `A fee of ${fmtNum(fee * 100)} % of the traded value on every fill.` : 'No fee.']);
  const slip = take('slippageBps');
  if (Number.isFinite(slip)) out.push(['Slippage', slip ? `${fmtNum(slip)} bps against the trader on every fill.` : 'No slippage.']);
  const size = take('size');
  const sizePct = take('sizePct');
  if (Number.isFinite(sizePct)) out.push(['Order size', `Each order uses ${fmtNum(sizePct * 100)} % of equity.`]);
  else if (Number.isFinite(size)) out.push(['Order size', `Each order is for ${fmtNum(size)} unit${size === 1 ? '' : 's'}.`]);
  else if ('size' in (options || {})) out.push(['Order size', 'Each order is for 1 unit (the default).']);
  const fill = take('fill');
  if (fill === 'next_open') out.push(['Fill', 'An order decided at a bar\'s close fills at the next bar\'s open.']);
  else if (fill === 'close') out.push(['Fill', 'An order fills at the close of the bar that decided it.']);
  else if (fill) out.push(['Fill', String(fill)]);
  const ppy = take('periodsPerYear');
  if (Number.isFinite(ppy)) out.push(['Annualisation', `${fmtNum(ppy)} periods a year.`]);
  const margin = take('margin');
  if (margin !== undefined && margin !== null) out.push(['Margin', margin ? 'Trades on margin.' : 'No margin: orders are backed by cash.']);
  const gates = take('gates');
  if (gates && typeof gates === 'object' && Object.keys(gates).length) {
    out.push(['Risk gates', Object.entries(gates).map(([k, v]) => `${humanize(k)}: ${v !== null && typeof v === 'object' ? pairs(v) : plain(v)}`).join('; ')]);
  }
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && v !== undefined) out.push([humanize(k), v !== null && typeof v === 'object' ? pairs(v) : plain(v)]);
  }
  return out;
}

export function settingsList(detail, stats) {
  const meta = (detail && detail.metadata) || {};
  const rows = [];
  const add = (label, value, key) => {
    if (value === undefined || value === null || value === '') return;
    rows.push(h('div', { dataset: key ? { key } : {} }, h('dt', {}, label), h('dd', {}, value)));
  };
  const version = meta.strategy && meta.strategy.version;
  add('Strategy', detail.strategy && (version ? `${detail.strategy} (version ${version})` : detail.strategy), 'strategy');
  const params = Object.entries(detail.params || {});
  add('Parameters', params.length ? params.map(([k, v]) => `${k} = ${plain(v)}`).join(', ') : 'the defaults', 'params');
  if (Number.isFinite(meta.candleCount)) {
    add('Data', `${meta.symbol || detail.pair || ''} ${meta.timeframe || detail.timeframe || ''}: ${meta.candleCount.toLocaleString('en-US')} bars from ${fmtTime(meta.startTime)} to ${fmtTime(meta.endTime)}.`.trim(), 'data');
  }
  if (detail.feed) add('Data feed', `${detail.feed.name}${Object.keys(detail.feed.args || {}).length ? ` (${pairs(detail.feed.args)})` : ''}`, 'feed');
  for (const [label, sentence] of optionSentences(meta.options || detail.options)) add(label, sentence, `option-${label}`);
  if (stats && stats.annualisation !== undefined) add('Statistics', `Annualised ${stats.annualisation}.`, 'annualisation');
  const semantics = Object.entries(meta.semantics || {});
  if (semantics.length) {
    add('Semantics', h('ul.semantics', {}, semantics.map(([k, text]) => h('li', { dataset: { key: k } },
      h('span.muted', {}, `${humanize(k)}: `), sentence(String(text))))), 'semantics');
  }
  add('Implementation', detail.impl, 'impl');
  add('Notes', detail.notes, 'notes');
  add('Engine version', meta.engineVersion, 'engine');
  for (const [label, key] of [['Fingerprint', 'fingerprint'], ['Orders hash', 'ordersHash'], ['Data hash', 'dataHash']]) {
    if (meta[key]) add(label, h('code', {}, meta[key]), key);
  }
  if (!rows.length) return h('p.muted', {}, 'No settings recorded.');
  return h('dl.settings', {}, rows);
}

/** Capitalised, ending with a full stop. */
function sentence(text) {
  const t = text.trim();
  if (!t) return t;
  return `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? '' : '.'}`;
}
