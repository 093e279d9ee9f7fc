// "New backtest": a form built from the declared parameters of the chosen strategy and feed. The checks here
// mirror the server's (spark/requests.py, spark/engine/params.py, spark/engine/options.py) so most mistakes are
// caught before a request; the server stays the judge, and its 4xx message is shown next to the field it names.
// The csv feed's file is a choice among the data directory's files (GET /api/data), with an upload control beside
// it (POST /api/data, guarded like start and cancel by the admin token) whose errors show at that field.

import { access, guardButton } from './access.js';
import { ApiError, api, getToken, routes } from './api.js';
import { fmtNum, fmtTime, h } from './format.js';
import { toast, toastError } from './toast.js';

const PAIR = /^[A-Za-z0-9._/-]{1,32}$/;
const TIMEFRAME = /^[1-9][0-9]{0,3}[smhdwMy]$/;
const MAX_NOTES = 1000;
const TIMEFRAMES = ['1m', '5m', '15m', '30m', '1h', '4h', '1d', '1w'];
// The server fills the synthetic feed's symbol and timeframe from the run's pair and timeframe (requests.py),
// so the form does not ask for them twice; other feeds (a CSV file) show them as their own fields.
const FROM_RUN = new Set(['symbol', 'timeframe']);
const takenFromRun = (feedName, param) => feedName === 'synthetic' && FROM_RUN.has(param);

// Run options (spark/engine/options.py); blank means the server's default.
const OPTIONS = [
  { name: 'cash', type: 'float', min: 0, minOpen: true, placeholder: '10000', help: 'Starting cash.' },
  { name: 'fee', type: 'float', min: 0, max: 0.5, placeholder: '0', help: 'Commission, a fraction of traded value (0.001 = 0.1 %).' },
  { name: 'slippageBps', type: 'float', min: 0, max: 10000, placeholder: '0', help: 'Slippage against the trader, in basis points.' },
  { name: 'size', type: 'float', min: 0, minOpen: true, placeholder: '1', help: 'Units per order (size or size %, not both).' },
  { name: 'sizePct', type: 'float', min: 0, max: 1, minOpen: true, placeholder: '', help: 'Fraction (0, 1] of equity per order.' },
  { name: 'fill', type: 'str', choices: ['next_open', 'close'], default: 'next_open', help: 'Fill at the next bar\'s open, or at the signal bar\'s close.' },
  { name: 'periodsPerYear', type: 'float', min: 0, minOpen: true, placeholder: 'from the timeframe', help: 'Annualisation basis; blank: from the timeframe (24x7).' },
  { name: 'margin', type: 'bool', default: false, help: 'Allow orders that need more cash than the account holds.' },
];

const OPTION_LABELS = {
  cash: 'Cash', fee: 'Fee rate', slippageBps: 'Slippage (bps)', size: 'Size (units)', sizePct: 'Size (fraction of equity)',
  fill: 'Fill', periodsPerYear: 'Periods per year', margin: 'Margin',
};

const DATA = '/api/data';

let uid = 0;

/** POST a file as multipart/form-data (the browser sets the boundary); errors as ApiError, like api(). */
async function uploadFile(file, replace) {
  const body = new FormData();
  body.append('file', file, file.name);
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token) headers['x-admin-token'] = token;
  let res;
  try {
    res = await fetch(`${DATA}${replace ? '?replace=true' : ''}`, { method: 'POST', body, headers, cache: 'no-store', credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, null, null);
  }
  const data = await res.json().catch(() => null);
  const wait = Number(res.headers.get('retry-after'));
  if (!res.ok) throw new ApiError(res.status, data, Number.isFinite(wait) && wait > 0 ? Math.ceil(wait) : null);
  return data;
}

/** "GOOG.csv — 2,148 bars of 1d, 2004-08-19 .. 2013-03-01" (or the reason it cannot be read). */
function fileLabel(f) {
  if (f.error) return `${f.name} — cannot be read: ${f.error}`;
  const day = (ms) => fmtTime(ms).slice(0, 10);
  const notes = [f.format === 'yahoo' ? 'Yahoo, has Adj Close' : '', f.volume === 'absent' ? 'no volume' : ''].filter(Boolean);
  return `${f.name} — ${fmtNum(f.bars)} bars${f.timeframe ? ` of ${f.timeframe}` : ''}, ${day(f.start)} .. ${day(f.end)}`
    + (notes.length ? ` (${notes.join(', ')})` : '');
}

/** The csv feed's `path`: a select of the uploaded files and an upload control; reads like any other field. */
function dataFileField(param, field) {
  const made = paramField({ ...param, choices: [''] }, field, { label: 'Data file' });
  const select = made.input;
  const fileId = `${select.id}-upload`;
  const picker = h('input', { id: fileId, type: 'file', accept: '.csv,text/csv', 'aria-label': 'CSV file to upload' });
  const replace = h('input', { id: `${fileId}-replace`, type: 'checkbox' });
  const button = h('button.btn', { type: 'button', id: 'upload-submit' }, 'Upload');
  const reason = h('p.reason', { id: 'upload-reason', hidden: true });
  button.setAttribute('aria-describedby', 'upload-reason');
  made.wrap.classList.add('field-wide');
  made.wrap.querySelector('.help').textContent = 'Files in the server\'s data directory. An upload is checked line by '
    + 'line before it is stored; the feed\'s help says which headers it reads.';
  made.wrap.insertBefore(h('div.form-actions', {},
    picker, h('label.pick', { for: replace.id }, replace, 'Replace a file of the same name'), button, reason),
  made.wrap.querySelector('.help'));
  const unguard = guardButton(button, reason);

  const show = (files, chosen) => {
    const usable = files.filter((f) => !f.error);
    const keep = chosen ?? select.value;
    select.replaceChildren(
      h('option', { value: '', selected: !usable.length }, usable.length ? 'Choose a file…' : 'No data files yet: upload one'),
      ...files.map((f) => h('option', { value: f.name, disabled: Boolean(f.error), selected: f.name === keep && !f.error }, fileLabel(f))));
    made.param = { ...param, choices: ['', ...usable.map((f) => f.name)] };
    select.dataset.loaded = 'true';
  };
  const load = async (chosen) => {
    try {
      show((await api(DATA)).files || [], chosen);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      setError(made.wrap, `The data files could not be listed: ${err.message}`);
    }
  };
  button.addEventListener('click', async () => {
    if (access.reason()) return;
    setError(made.wrap, '');
    const file = picker.files && picker.files[0];
    if (!file) {
      setError(made.wrap, 'Choose a CSV file to upload first.');
      return;
    }
    button.disabled = true;
    button.textContent = 'Uploading…';
    try {
      const stored = await uploadFile(file, replace.checked);
      toast(`Uploaded ${stored.name} (${fmtNum(stored.bars)} bars).`, 'ok');
      picker.value = '';
      await load(stored.name);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      setError(made.wrap, err.message);
      toastError('Upload', err, { notFoundMeansWriteOff: true });
      if (err.status === 404 || err.status === 401) access.load();
    } finally {
      button.textContent = 'Upload';
      button.disabled = Boolean(access.reason());
    }
  });
  load();
  return { ...made, get param() { return made.param; }, destroy: unguard };
}

/** One input for a declared parameter ({name, type, default, min, max, help, choices}); `field` is its wire path. */
function paramField(param, field, { label = param.name, blankAllowed = true } = {}) {
  uid += 1;
  const id = `f${uid}`;
  const helpId = `${id}-help`;
  const errId = `${id}-err`;
  const described = `${helpId} ${errId}`;
  let input;
  if (param.type === 'bool') {
    input = h('input', { id, type: 'checkbox', checked: Boolean(param.default), 'aria-describedby': described });
  } else if (param.choices && param.choices.length) {
    input = h('select', { id, 'aria-describedby': described },
      param.choices.map((c) => h('option', { value: c, selected: c === param.default }, c)));
  } else if (param.type === 'int' || param.type === 'float') {
    input = h('input', {
      id, type: 'text', inputMode: param.type === 'int' ? 'numeric' : 'decimal', autocomplete: 'off',
      value: param.default === null || param.default === undefined ? '' : String(param.default),
      placeholder: param.placeholder || '', 'aria-describedby': described,
    });
  } else {
    input = h('input', { id, type: 'text', autocomplete: 'off', value: param.default ?? '', 'aria-describedby': described });
  }
  const bounds = [];
  if (param.min !== null && param.min !== undefined) bounds.push(`${param.minOpen ? '>' : '≥'} ${param.min}`);
  if (param.max !== null && param.max !== undefined) bounds.push(`≤ ${param.max}`);
  const kind = { int: 'integer', float: 'number', bool: 'yes/no', str: 'text' }[param.type] || param.type;
  const shape = param.type === 'str' ? '' : `${kind}${bounds.length ? `, ${bounds.join(', ')}` : ''}`;
  const help = [param.help, shape].filter(Boolean).join(' — ');
  const wrap = h(`div.field${param.type === 'bool' ? '.field-check' : ''}`, { dataset: { field } },
    h('label', { for: id }, label),
    input,
    h('small.help', { id: helpId }, help),
    h('small.error', { id: errId, role: 'alert', hidden: true }));
  return { wrap, input, param, field, blankAllowed };
}

/** The value of a field as JSON, or throws a message mirroring the server's wording. */
function readField({ input, param, field, blankAllowed }) {
  if (param.type === 'bool') return input.checked;
  const text = input.value.trim();
  if (text === '') {
    if (blankAllowed) return undefined;
    throw new Error(`${field} is required`);
  }
  if (param.type === 'str') {
    if (param.choices && param.choices.length && !param.choices.includes(text)) {
      throw new Error(`${field} must be one of ${param.choices.join(', ')}; got '${text}'`);
    }
    return text;
  }
  const number = Number(text);
  if (!Number.isFinite(number) || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new Error(`${field} must be ${param.type === 'int' ? 'an integer' : 'a number'}, got '${text}'`);
  }
  if (param.type === 'int' && !Number.isInteger(number)) throw new Error(`${field} must be an integer, got ${text}`);
  if (param.min !== null && param.min !== undefined) {
    if (param.minOpen ? number <= param.min : number < param.min) {
      throw new Error(`${field} must be ${param.minOpen ? '>' : '>='} ${param.min}, got ${text}`);
    }
  }
  if (param.max !== null && param.max !== undefined && number > param.max) {
    throw new Error(`${field} must be <= ${param.max}, got ${text}`);
  }
  return number;
}

function setError(wrap, message) {
  const err = wrap.querySelector('.error');
  const input = wrap.querySelector('input, select, textarea');
  err.textContent = message || '';
  err.hidden = !message;
  wrap.classList.toggle('invalid', Boolean(message));
  if (input) input.setAttribute('aria-invalid', message ? 'true' : 'false');
}

export function newBacktestForm({ strategies, feeds, onStarted }) {
  const runFields = {
    pair: paramField({ name: 'pair', type: 'str', default: 'ETHUSDT', help: 'Letters, digits and ._/- (at most 32).' }, 'pair', { label: 'Pair', blankAllowed: false }),
    timeframe: paramField({ name: 'timeframe', type: 'str', default: '4h', help: 'A number and a unit: 1m, 4h, 1d.' }, 'timeframe', { label: 'Timeframe', blankAllowed: false }),
  };
  const tfList = h('datalist', { id: 'timeframes' }, TIMEFRAMES.map((t) => h('option', { value: t })));
  runFields.timeframe.input.setAttribute('list', 'timeframes');

  const notesId = 'f-notes';
  const notes = h('textarea', { id: notesId, rows: 2, maxLength: MAX_NOTES, 'aria-describedby': `${notesId}-err` });
  const notesWrap = h('div.field.field-wide', { dataset: { field: 'notes' } },
    h('label', { for: notesId }, 'Notes'), notes,
    h('small.help', {}, `Optional, at most ${MAX_NOTES} characters.`),
    h('small.error', { id: `${notesId}-err`, role: 'alert', hidden: true }));

  const strategySelect = h('select', { id: 'f-strategy', 'aria-describedby': 'f-strategy-help f-strategy-err' },
    strategies.map((s) => h('option', { value: s.name, selected: s.name === 'sma_cross' }, s.name)));
  const strategyHelp = h('small.help', { id: 'f-strategy-help' });
  const strategyWrap = h('div.field', { dataset: { field: 'strategy' } },
    h('label', { for: 'f-strategy' }, 'Strategy'), strategySelect, strategyHelp,
    h('small.error', { id: 'f-strategy-err', role: 'alert', hidden: true }));
  const paramsBox = h('div.grid');

  const feedSelect = h('select', { id: 'f-feed', 'aria-describedby': 'f-feed-help f-feed-err' },
    feeds.map((f) => h('option', { value: f.name, selected: f.name === 'synthetic' }, f.name)));
  const feedHelp = h('small.help', { id: 'f-feed-help' });
  const feedWrap = h('div.field', { dataset: { field: 'feed.name' } },
    h('label', { for: 'f-feed' }, 'Data feed'), feedSelect, feedHelp,
    h('small.error', { id: 'f-feed-err', role: 'alert', hidden: true }));
  const feedArgsBox = h('div.grid');

  const optionFields = OPTIONS.map((o) => paramField(o, `options.${o.name}`, { label: OPTION_LABELS[o.name] }));

  let paramFields = [];
  let feedFields = [];
  const renderParams = () => {
    const spec = strategies.find((s) => s.name === strategySelect.value);
    strategyHelp.textContent = (spec && spec.help) || '';
    paramFields = ((spec && spec.params) || []).map((p) => paramField(p, `params.${p.name}`));
    paramsBox.replaceChildren(...paramFields.map((f) => f.wrap));
    if (!paramFields.length) paramsBox.append(h('p.muted', {}, 'This strategy takes no parameters.'));
  };
  const renderFeed = () => {
    feedFields.forEach((f) => f.destroy && f.destroy());
    const spec = feeds.find((f) => f.name === feedSelect.value);
    feedHelp.textContent = (spec && spec.help) || '';
    const declared = (spec && spec.params) || [];
    const name = feedSelect.value;
    feedFields = declared.filter((p) => !takenFromRun(name, p.name)).map((p) => (name === 'csv' && p.name === 'path'
      ? dataFileField(p, `feed.args.${p.name}`) : paramField(p, `feed.args.${p.name}`)));
    feedArgsBox.replaceChildren(...feedFields.map((f) => f.wrap));
    const taken = declared.filter((p) => takenFromRun(name, p.name)).map((p) => p.name);
    if (taken.length) feedArgsBox.append(h('p.muted.field-wide', {}, `${taken.join(' and ')}: taken from pair and timeframe.`));
  };
  strategySelect.addEventListener('change', renderParams);
  feedSelect.addEventListener('change', renderFeed);
  renderParams();
  renderFeed();

  const submit = h('button.btn.btn-primary', { type: 'submit', id: 'start-submit' }, 'Start backtest');
  const reason = h('p.reason', { id: 'start-reason', hidden: true });
  submit.setAttribute('aria-describedby', 'start-reason');
  const formError = h('p.form-error', { role: 'alert', hidden: true });

  const form = h('form.new-backtest', { noValidate: true, 'aria-labelledby': 'new-title' },
    h('h2', { id: 'new-title', tabIndex: -1 }, 'New backtest'),
    h('div.grid', {}, strategyWrap, runFields.pair.wrap, runFields.timeframe.wrap, tfList),
    h('fieldset', {}, h('legend', {}, 'Strategy parameters'), paramsBox),
    h('fieldset', {}, h('legend', {}, 'Data'), h('div.grid', {}, feedWrap), feedArgsBox),
    h('details', {}, h('summary', {}, 'Costs and sizing'), h('div.grid', {}, optionFields.map((f) => f.wrap))),
    notesWrap,
    formError,
    h('div.form-actions', {}, submit, reason));

  const unguard = guardButton(submit, reason);
  const allWraps = () => [strategyWrap, feedWrap, notesWrap, runFields.pair.wrap, runFields.timeframe.wrap,
    ...paramFields.map((f) => f.wrap), ...feedFields.map((f) => f.wrap), ...optionFields.map((f) => f.wrap)];
  const clearErrors = () => {
    allWraps().forEach((w) => setError(w, ''));
    formError.hidden = true;
  };

  /** The request body, or null after marking every bad field (the first one focused). */
  const collect = () => {
    const bad = [];
    const read = (f) => {
      try {
        return readField(f);
      } catch (err) {
        bad.push([f.wrap, err.message]);
        return undefined;
      }
    };
    const pair = read(runFields.pair);
    const timeframe = read(runFields.timeframe);
    if (pair !== undefined && !PAIR.test(pair)) bad.push([runFields.pair.wrap, `pair must be letters, digits and ._/- (at most 32), got '${pair}'`]);
    if (timeframe !== undefined && !TIMEFRAME.test(timeframe)) bad.push([runFields.timeframe.wrap, `timeframe must be a number and a unit, like 1m, 4h, 1d, got '${timeframe}'`]);
    if (notes.value.length > MAX_NOTES) bad.push([notesWrap, `notes must be a string of at most ${MAX_NOTES} characters`]);
    const params = {};
    for (const f of paramFields) {
      const v = read(f);
      if (v !== undefined) params[f.param.name] = v;
    }
    const args = {};
    for (const f of feedFields) {
      const v = read(f);
      if (v !== undefined) args[f.param.name] = v;
    }
    const options = {};
    for (const f of optionFields) {
      const v = read(f);
      if (v !== undefined) options[f.param.name] = v;
    }
    if (options.size !== undefined && options.sizePct !== undefined) {
      bad.push([optionFields.find((f) => f.param.name === 'sizePct').wrap, 'give size or size_pct, not both']);
    }
    if (bad.length) {
      for (const [wrap, message] of bad) setError(wrap, message);
      const first = bad[0][0];
      first.closest('details')?.setAttribute('open', '');
      first.querySelector('input, select, textarea')?.focus();
      return null;
    }
    const body = { pair, timeframe, strategy: strategySelect.value, params, feed: { name: feedSelect.value, args } };
    if (notes.value.trim()) body.notes = notes.value;
    if (Object.keys(options).length) body.options = options;
    return body;
  };

  /** Put the server's message next to the field it names (params.fast, feed.args.bars, options.cash, ...). */
  const showServerError = (err) => {
    const wrap = err.field && allWraps().find((w) => w.dataset.field === err.field);
    if (wrap) {
      setError(wrap, err.message);
      wrap.closest('details')?.setAttribute('open', '');
      wrap.querySelector('input, select, textarea')?.focus();
    } else {
      formError.textContent = err.message;
      formError.hidden = false;
    }
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (access.reason()) return;
    clearErrors();
    const body = collect();
    if (!body) return;
    submit.disabled = true;
    submit.textContent = 'Starting…';
    try {
      const answer = await api(routes.start(), { method: 'POST', body, admin: true });
      toast(`Started ${answer.id} (${answer.status}).`, 'ok');
      if (onStarted) onStarted(answer);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 400 || err.status === 413) showServerError(err);
      toastError('Start', err, { notFoundMeansWriteOff: true });
      if (err.status === 404 || err.status === 401) access.load();
    } finally {
      submit.textContent = 'Start backtest';
      const why = access.reason();
      submit.disabled = Boolean(why);
    }
  });

  const reset = h('button.btn.btn-quiet', {
    type: 'button',
    onclick: () => {
      clearErrors();
      runFields.pair.input.value = 'ETHUSDT';
      runFields.timeframe.input.value = '4h';
      notes.value = '';
      optionFields.forEach((f) => {
        if (f.param.type === 'bool') f.input.checked = Boolean(f.param.default);
        else f.input.value = f.param.default ?? '';
      });
      renderParams();
      renderFeed();
    },
  }, 'Reset to defaults');
  form.querySelector('.form-actions').append(reset);

  const destroy = () => {
    unguard();
    feedFields.forEach((f) => f.destroy && f.destroy());
  };
  return { el: form, destroy, focus: () => form.querySelector('h2').focus() };
}
