// Spark dashboard: boot, hash routes (#/, #/runs/<id>, #/compare/<a>/<b>), the live badge and the admin token.

import { access } from './access.js';
import { RUN_ID, api, forgetToken, getToken, onTokenChange, routes, setToken } from './api.js';
import { compareView } from './compare.js';
import { h } from './format.js';
import { Live, RunStore } from './live.js';
import { reportView } from './report.js';
import { runsView } from './runs.js';

const store = new RunStore();
const live = new Live(store);
const catalog = { strategies: [], feeds: [], ready: Promise.resolve() };
let dispose = null;

const listOf = (doc, key) => (Array.isArray(doc) ? doc : (doc && Array.isArray(doc[key]) ? doc[key] : []));

function badge() {
  const el = document.getElementById('sse-badge');
  const note = document.getElementById('live-note');
  const apply = () => {
    const { state, polling, pollFailed } = live;
    el.dataset.state = state;
    el.className = `badge badge-${state}`;
    el.textContent = state;
    el.title = {
      connecting: 'Opening the live stream…',
      connected: 'Live: runs update as they change.',
      reconnecting: 'The live stream dropped; the browser is reconnecting.',
      offline: 'No live stream.',
    }[state];
    let text = '';
    if (polling && pollFailed) text = 'Offline: the server cannot be reached. Retrying…';
    else if (polling) text = 'The live stream is unavailable: reading the API every 5 s instead.';
    note.textContent = text;
    note.hidden = !text;
  };
  let last = live.state;
  live.addEventListener('state', (ev) => {
    apply();
    // Back after a drop: the server's flags may have changed meanwhile (the first connect needs no re-read).
    if (ev.detail.state === 'connected' && last !== 'connected' && last !== 'connecting') access.load();
    last = ev.detail.state;
  });
  apply();
}

function adminPanel() {
  const toggle = document.getElementById('admin-toggle');
  const panel = document.getElementById('admin-panel');
  const form = document.getElementById('admin-form');
  const input = document.getElementById('admin-token-input');
  const state = document.getElementById('admin-state');
  const forget = document.getElementById('admin-forget');
  const show = (message) => {
    state.textContent = message || (getToken() ? 'A token is stored in this browser.' : 'No token stored.');
    toggle.textContent = getToken() ? 'Admin token ✓' : 'Admin token';
    forget.disabled = !getToken();
  };
  toggle.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) input.focus();
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    try {
      setToken(input.value);
      input.value = '';
      show('Token saved in this browser.');
    } catch (err) {
      show(err.message);
    }
  });
  forget.addEventListener('click', () => {
    forgetToken();
    input.value = '';
    show('Token forgotten.');
  });
  onTokenChange(() => show());
  window.addEventListener('storage', (ev) => { // the token saved or forgotten in another tab
    if (ev.key !== 'admin-token' && ev.key !== null) return;
    show();
    access.dispatchEvent(new Event('change'));
  });
  show();
}

function route() {
  if (dispose) dispose();
  dispose = null;
  const main = document.getElementById('main');
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (parts[0] === 'runs' && parts[1]) {
    if (!RUN_ID.test(parts[1])) return notFound(main, `“${parts[1]}” is not a run id.`);
    dispose = reportView(main, { store, live, id: parts[1] });
  } else if (parts[0] === 'compare' && parts.length === 3) {
    if (!RUN_ID.test(parts[1]) || !RUN_ID.test(parts[2])) return notFound(main, 'Both parts of a comparison must be run ids.');
    dispose = compareView(main, { a: parts[1], b: parts[2] });
  } else if (parts[0] === 'guardrails' && parts.length === 1) {
    const token = {};
    dispose = () => { token.gone = true; };
    import('./guardrails.js').then(({ guardrailsView }) => {
      if (!token.gone) dispose = guardrailsView(main, { live });
    });
  } else if (parts.length === 0 || parts[0] === 'runs' || parts[0] === 'new') {
    dispose = runsView(main, { store, live, catalog });
  } else {
    return notFound(main, 'There is no such page.');
  }
  focusHeading(main);
}

function notFound(main, message) {
  main.replaceChildren(h('p.crumbs', {}, h('a', { href: '#/' }, '← All runs')), h('h1', { tabIndex: -1 }, 'Not found'), h('p', {}, message));
  focusHeading(main);
}

let firstRoute = true;
function focusHeading(main) {
  // Move focus to the new view's heading on navigation (not on first load: Tab then starts at the top).
  if (firstRoute) { firstRoute = false; return; }
  const heading = main.querySelector('h1');
  if (heading) heading.focus({ preventScroll: false });
}

function boot() {
  badge();
  adminPanel();
  live.start();
  access.load();
  // Views start at once; the form waits for the catalog of strategies and feeds.
  catalog.ready = Promise.all([api(routes.strategies()).catch(() => null), api(routes.feeds()).catch(() => null)])
    .then(([strategies, feeds]) => {
      catalog.strategies = listOf(strategies, 'strategies');
      catalog.feeds = listOf(feeds, 'feeds');
    });
  window.addEventListener('hashchange', route);
  route();
  document.body.dataset.ready = 'true';
}

boot();
