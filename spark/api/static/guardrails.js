// The guardrails panel (#/guardrails): active parameter sets, pending change requests with the side-by-side diff,
// the promotion gates with their values and thresholds, links to the evidence, and the decisions. Every button
// stays visible; when it may not be used it is disabled and says why (your own request, a failing gate that needs
// an override reason, your role, no token). The server decides again on every click: this only explains.

import { ApiError, api, getToken, onTokenChange } from './api.js';
import { fmtTime, h } from './format.js';
import { toast } from './toast.js';

const REFRESH_MS = 5000;
const RANK = { viewer: 0, operator: 1, approver: 2, admin: 3 };

const changesUrl = (state) => `/api/changes${state ? `?state=${encodeURIComponent(state)}` : ''}`;
const decideUrl = (id, action) => `/api/changes/${encodeURIComponent(id)}/${action}`;

/** Who the stored token belongs to: {user, role}, or null without a (valid) token. */
async function whoami() {
  if (!getToken()) return null;
  try {
    return await api('/api/whoami', { admin: true });
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
    throw err;
  }
}

const show = (value) => (value === null || value === undefined ? '—' : typeof value === 'object' ? JSON.stringify(value) : String(value));

function fmtGateValue(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
  return show(value);
}

/** Why `me` may not take `action` on `request` ('' when it may), as the server's rules say. */
export function refusal(action, request, me) {
  if (!me) return 'Enter a token (top right) to decide on changes.';
  if (request.state !== 'pending') return `This request is ${request.state}.`;
  if (action === 'withdraw') {
    return me.user === request.requester || me.role === 'admin' ? '' : 'Only the requester or an admin may withdraw it.';
  }
  if (me.user === request.requester) return `You cannot ${action} your own request.`;
  if ((RANK[me.role] ?? -1) < RANK.approver) return `Your role (${me.role}) cannot ${action}: it needs approver.`;
  if (action === 'approve' && (request.approvals || []).some((a) => a.user === me.user)) return 'You have approved it already.';
  return '';
}

const failing = (request) => (request.gates || []).filter((g) => g.verdict === 'fail');

function diffTable(request) {
  const base = request.active ? request.active.params || {} : {};
  const proposed = request.params || {};
  const changed = new Set((request.diff || []).map((d) => d.field));
  const fields = [...new Set([...Object.keys(base), ...Object.keys(proposed)])].sort();
  return h('table.diff', { 'aria-label': 'Parameter diff' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Parameter'), h('th', {}, request.active ? `Active (v${request.active.version})` : 'Active'), h('th', {}, 'Proposed'))),
    h('tbody', {}, fields.map((f) => h(`tr${changed.has(f) || !request.active ? '.changed' : ''}`, { dataset: { field: f } },
      h('th', { scope: 'row' }, f), h('td', {}, request.active ? show(base[f]) : '—'), h('td', {}, show(proposed[f]))))));
}

function gateTable(request) {
  return h('table.gates', { 'aria-label': 'Promotion gates' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Gate'), h('th', {}, 'Verdict'), h('th.num', {}, 'Value'), h('th.num', {}, 'Threshold'), h('th', {}, 'Detail'))),
    h('tbody', {}, (request.gates || []).map((g) => h('tr', { dataset: { gate: g.name, verdict: g.verdict } },
      h('th', { scope: 'row' }, g.name),
      h('td', {}, h(`span.verdict.verdict-${g.verdict}`, {}, g.verdict)),
      h('td.num', {}, fmtGateValue(g.value)), h('td.num', {}, fmtGateValue(g.threshold)), h('td', {}, g.detail || '')))));
}

function evidenceLinks(request) {
  const ev = request.evidence || {};
  const links = (ev.runs || []).map((id) => h('a', { href: `#/runs/${id}` }, id));
  if (ev.sweep) links.push(h('a', { href: `#/sweeps/${ev.sweep}` }, ev.sweep));
  if (ev.walkForward) links.push(h('a', { href: `#/sweeps/${ev.walkForward}` }, ev.walkForward));
  return h('p.evidence', {}, 'Evidence: ', links.flatMap((a, i) => (i ? [', ', a] : [a])));
}

function decisionRow(request, me, act) {
  const gatesFail = failing(request).length > 0;
  const reason = h('input', {
    type: 'text', maxLength: 2000, placeholder: gatesFail ? 'Override reason (a gate fails)' : 'Reason (optional)',
    'aria-label': 'Reason', class: 'reason',
  });
  const why = h('p.muted.why', { 'aria-live': 'polite' });
  const buttons = ['approve', 'reject', 'withdraw'].map((action) => h(`button.btn${action === 'approve' ? '' : '.btn-quiet'}`, {
    type: 'button', dataset: { action },
    onclick: () => act(request, action, reason.value.trim()),
  }, action[0].toUpperCase() + action.slice(1)));
  const apply = () => {
    const notes = [];
    for (const button of buttons) {
      let text = refusal(button.dataset.action, request, me);
      if (!text && button.dataset.action === 'approve' && gatesFail && !reason.value.trim()) {
        text = `A gate fails (${failing(request).map((g) => g.name).join(', ')}): approving needs an override reason, and two approvers.`;
      }
      button.disabled = Boolean(text);
      button.title = text;
      button.dataset.reason = text;
      if (text && !notes.includes(text)) notes.push(text);
    }
    why.textContent = notes.join(' ');
  };
  reason.addEventListener('input', apply);
  apply();
  return h('div.decide', {}, reason, h('div.row-end', {}, buttons), why);
}

function requestCard(request, me, act) {
  const approvals = (request.approvals || []).map((a) => `${a.user}${a.override ? ` (override: ${a.override})` : ''}`);
  return h('article.card.change', { dataset: { id: request.id, state: request.state } },
    h('h3', {}, `${request.strategy} · ${request.pair} · ${request.timeframe}`, ' ', h(`span.verdict.state-${request.state}`, {}, request.state)),
    h('p.muted', {}, `${request.id} · by ${request.requester} · ${fmtTime(request.createdAt)}`),
    request.rationale ? h('p.rationale', {}, request.rationale) : null,
    h('div.two', {}, h('div', {}, h('h4', {}, 'Diff'), diffTable(request)), h('div', {}, h('h4', {}, 'Gates'), gateTable(request))),
    evidenceLinks(request),
    h('p.muted', {}, approvals.length ? `Approved by ${approvals.join(', ')}` : 'No approvals yet.'),
    request.state === 'pending' ? decisionRow(request, me, act) : null);
}

function setsTable(sets) {
  const active = sets.filter((s) => s.state === 'active');
  if (!active.length) return h('p.muted', {}, 'No active parameter sets yet: live sessions need one, through an approved change.');
  return h('table.sets', { 'aria-label': 'Active parameter sets' },
    h('thead', {}, h('tr', {}, ['Strategy', 'Pair', 'Timeframe', 'Version', 'Params', 'Activated', 'Change'].map((t) => h('th', {}, t)))),
    h('tbody', {}, active.map((s) => h('tr', { dataset: { strategy: s.strategy } },
      h('td', {}, s.strategy), h('td', {}, s.pair), h('td', {}, s.timeframe), h('td.num', {}, `v${s.version}`),
      h('td', {}, h('code', {}, JSON.stringify(s.params))), h('td', {}, fmtTime(s.activatedAt)), h('td', {}, s.changeId)))));
}

/** Render the panel into `main`; returns its dispose function. */
export function guardrailsView(main, { live } = {}) {
  const who = h('p.muted.who', { 'aria-live': 'polite' });
  const setsBox = h('section.card', { 'aria-labelledby': 'sets-title' }, h('h2#sets-title', {}, 'Active parameter sets'));
  const pendingBox = h('section', { 'aria-labelledby': 'pending-title' }, h('h2#pending-title', {}, 'Pending change requests'));
  const recentBox = h('section', { 'aria-labelledby': 'recent-title' }, h('h2#recent-title', {}, 'Decided recently'));
  main.replaceChildren(h('p.crumbs', {}, h('a', { href: '#/' }, '← All runs')), h('h1', { tabIndex: -1 }, 'Guardrails'), who, setsBox, pendingBox, recentBox);
  let me = null;
  let stopped = false;
  let timer = null;
  let busy = false;
  let last = '';

  async function act(request, action, reason) {
    const body = action === 'approve' ? { paramsSha: request.paramsSha } : {};
    if (reason) body.reason = reason;
    try {
      const doc = await api(decideUrl(request.id, action), { method: 'POST', body, admin: true });
      toast(`${request.id}: ${action} recorded, now ${doc.state}.`, 'ok');
    } catch (err) {
      toast(`${action} refused: ${err.message}`, 'error');
    }
    refresh();
  }

  async function refresh() {
    if (stopped || busy) return;
    busy = true;
    clearTimeout(timer);
    try {
      const [identity, pending, all, params] = await Promise.all([
        whoami(), api(changesUrl('pending')), api(changesUrl('')), api('/api/params'),
      ]);
      if (stopped) return;
      me = identity;
      who.textContent = me ? `Signed in as ${me.user} (${me.role}).` : 'No token: you can read, not decide.';
      const seen = JSON.stringify([me, pending, all, params]);
      if (seen === last) return; // unchanged: keep the page (and a reason being typed) as it is
      last = seen;
      setsBox.replaceChildren(setsBox.firstChild, setsTable(params.sets || []));
      const cards = (pending.changes || []).map((r) => requestCard(r, me, act));
      pendingBox.replaceChildren(pendingBox.firstChild, ...(cards.length ? cards : [h('p.muted', {}, 'Nothing waits for a decision.')]));
      const decided = (all.changes || []).filter((r) => r.state !== 'pending').slice(0, 20);
      recentBox.replaceChildren(recentBox.firstChild, ...decided.map((r) => requestCard(r, me, act)));
    } catch (err) {
      who.textContent = `Cannot read the guardrails: ${err.message}`;
    } finally {
      busy = false;
      if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  const onServerEvent = (ev) => { if (ev.detail && ev.detail.kind === 'change') refresh(); };
  if (live) live.addEventListener('server-event', onServerEvent);
  const offToken = onTokenChange(refresh);
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    offToken();
    if (live) live.removeEventListener('server-event', onServerEvent);
  };
}
