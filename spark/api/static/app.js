// Spark dashboard: boot, hash routes (the views of views.js, each loaded when first opened), the nav, the live
// badge and the admin token.

import { access } from './access.js';
import { api, forgetToken, getToken, onTokenChange, routes, setToken } from './api.js';
import { h } from './format.js';
import { Live, RunStore } from './live.js';
import { VIEWS, match } from './views.js';

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

let routeSeq = 0;
async function route() {
  if (dispose) dispose();
  dispose = null;
  const seq = ++routeSeq;
  const main = document.getElementById('main');
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const found = match(parts);
  markNav(parts);
  if (!found) return notFound(main, 'There is no such page.');
  if (found.error) return notFound(main, found.error);
  let view;
  try {
    view = await found.view.load();
  } catch (err) {
    if (seq === routeSeq) notFound(main, `This view could not be loaded: ${err.message}`);
    return;
  }
  if (seq !== routeSeq) return; // navigated elsewhere while the module loaded
  dispose = view(main, { store, live, catalog, params: found.params, ...found.params });
  focusHeading(main);
}

function nav() {
  const entries = VIEWS.filter((v) => v.nav);
  if (entries.length < 2) return; // one view: the brand link is the nav
  const el = h('nav.views', { 'aria-label': 'Views' }, entries.map((v) => h('a', { href: `#/${v.route}`, dataset: { route: v.route } }, v.nav)));
  document.querySelector('.top .brand').after(el);
}

function markNav(parts) {
  for (const a of document.querySelectorAll('nav.views a')) {
    const here = a.dataset.route === (parts[0] || '') || (a.dataset.route === '' && ['runs', 'new', 'compare'].includes(parts[0]));
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
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
  nav();
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
