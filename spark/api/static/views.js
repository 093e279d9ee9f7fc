// The dashboard's views: one line each, with its route, its nav entry (null: none) and its module, imported
// lazily the first time the view opens (so the runs list never pays for a chart library it does not draw).
//
// A route is 'segment/:param/...' matched against the hash (#/segment/...); `params` checks named parts (a
// RegExp; a part that fails it is a "not found" page saying it is not a `what`). `load` resolves to the view function
// view(main, {store, live, catalog, params}) -> dispose(), which fills `main` and undoes itself on dispose.
// To add a view (the sweep, live-session and guardrail views do this), append one line, e.g.
//   { route: 'sweeps', nav: 'Sweeps', load: () => import('./<module>.js').then((m) => m.sweepsView) },

import { RUN_ID } from './api.js';
import { runsView } from './runs.js';

export const VIEWS = [
  { route: '', nav: 'Runs', load: async () => runsView },
  { route: 'runs', nav: null, load: async () => runsView },
  { route: 'new', nav: null, load: async () => runsView },
  { route: 'runs/:id', nav: null, params: { id: RUN_ID }, what: 'run id', load: () => import('./report.js').then((m) => m.reportView) },
  { route: 'compare/:a/:b', nav: null, params: { a: RUN_ID, b: RUN_ID }, what: 'run id', load: () => import('./compare.js').then((m) => m.compareView) },
  { route: 'guardrails', nav: 'Guardrails', load: () => import('./guardrails.js').then((m) => m.guardrailsView) },
];

/** Add a view at run time (a plugin's module may call this before the first route). */
export function registerView(view) {
  VIEWS.push(view);
}

/** The view for hash parts, with its params: {view, params} | {error} | null (no route matches). */
export function match(parts) {
  for (const view of VIEWS) {
    const pattern = view.route ? view.route.split('/') : [];
    if (pattern.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i += 1) {
      if (pattern[i].startsWith(':')) params[pattern[i].slice(1)] = parts[i];
      else ok = pattern[i] === parts[i];
    }
    if (!ok) continue;
    for (const [name, check] of Object.entries(view.params || {})) {
      if (!check.test(params[name])) return { error: `“${params[name]}” is not a ${view.what || name}.` };
    }
    return { view, params };
  }
  return null;
}
