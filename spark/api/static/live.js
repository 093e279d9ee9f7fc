// The runs the page knows, kept live: Server-Sent Events first, reading the API when the stream fails.
//
// States (shown in the header badge): connecting -> connected; a dropped stream is "reconnecting" while the
// browser retries; after FALLBACK_MS without a stream (or when the server refuses it) the page is "offline" from the
// stream's point of view and polls GET /api/backtest every POLL_MS, saying so, until the stream comes back.

import { api, routes } from './api.js';

const FALLBACK_MS = 8000;
const POLL_MS = 5000;
const REOPEN_MS = [2000, 5000, 10000, 20000, 30000];
const RANK = { queued: 0, running: 1, done: 2, failed: 2 };

export class RunStore extends EventTarget {
  constructor() {
    super();
    this.runs = new Map();
    this.clockOffset = 0; // serverTime - Date.now(), for durations of runs in flight
  }

  now() {
    return Date.now() + this.clockOffset;
  }

  get(id) {
    return this.runs.get(id);
  }

  /** Newest first: by start time, then id (ids embed the start time). */
  sorted() {
    return [...this.runs.values()].sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0)
      || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  replaceAll(runs, serverTime) {
    this.runs = new Map();
    for (const run of runs || []) if (run && run.id) this.runs.set(run.id, run);
    this.#clock(serverTime);
    this.dispatchEvent(new CustomEvent('change', { detail: { all: true } }));
  }

  /** Fold in a list read from the API, which may be older than events already seen: a record never goes back
   * (queued < running < done|failed, then progress), and runs outside the list are kept. */
  merge(runs) {
    let changed = false;
    for (const run of runs || []) {
      if (!run || !run.id) continue;
      const old = this.runs.get(run.id);
      if (old && (RANK[old.status] ?? 0) > (RANK[run.status] ?? 0)) continue;
      if (old && old.status === run.status && (old.progress ?? 0) > (run.progress ?? 0)) continue;
      if (old && JSON.stringify(old) === JSON.stringify(run)) continue;
      this.runs.set(run.id, run);
      changed = true;
    }
    if (changed) this.dispatchEvent(new CustomEvent('change', { detail: { all: true } }));
  }

  upsert(run, serverTime) {
    if (!run || !run.id) return;
    const { serverTime: _, ...record } = run;
    this.runs.set(record.id, record);
    this.#clock(serverTime);
    this.dispatchEvent(new CustomEvent('change', { detail: { id: record.id } }));
  }

  #clock(serverTime) {
    if (Number.isFinite(serverTime)) this.clockOffset = serverTime - Date.now();
  }
}

export class Live extends EventTarget {
  constructor(store) {
    super();
    this.store = store;
    this.state = 'connecting';
    this.polling = false;
    this.pollFailed = false;
    this.source = null;
    this.fallbackTimer = null;
    this.pollTimer = null;
    this.reopenTimer = null;
    this.reopenAttempt = 0;
    // Resolves once the page holds the run list (first snapshot or first successful read of the API).
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
  }

  start() {
    this.#open();
  }

  #open() {
    clearTimeout(this.reopenTimer);
    const source = new EventSource(routes.stream());
    this.source = source;
    source.addEventListener('open', () => {
      if (this.source !== source) return;
      // After a drop, read the list once too: a restarted server cannot resume from an id it never issued.
      if (this.state !== 'connecting') this.#poll();
      this.reopenAttempt = 0;
      clearTimeout(this.fallbackTimer);
      this.fallbackTimer = null;
      this.#stopPolling();
      this.#set('connected');
    });
    source.addEventListener('snapshot', (ev) => {
      const data = parse(ev.data);
      if (data) this.store.replaceAll(data.runs, data.serverTime);
      this.markReady();
    });
    source.addEventListener('run', (ev) => {
      const data = parse(ev.data);
      if (data) this.store.upsert(data, data.serverTime);
    });
    // Other kinds of change (change requests, sweeps, live sessions, deletions) go to the views that show them.
    for (const kind of ['change', 'sweep', 'live', 'deleted']) {
      source.addEventListener(kind, (ev) => {
        const data = parse(ev.data);
        if (data) this.dispatchEvent(new CustomEvent('server-event', { detail: { kind, data } }));
      });
    }
    source.addEventListener('error', () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error such as 503 over the client cap): read the API, retry later.
        this.#set('offline');
        this.#startPolling();
        const wait = REOPEN_MS[Math.min(this.reopenAttempt, REOPEN_MS.length - 1)];
        this.reopenAttempt += 1;
        this.reopenTimer = setTimeout(() => this.#open(), wait);
        return;
      }
      // Still CONNECTING: the browser retries on its own (after the server's retry: hint).
      if (this.state !== 'offline') this.#set('reconnecting');
      if (!this.fallbackTimer && !this.polling) {
        this.fallbackTimer = setTimeout(() => {
          this.fallbackTimer = null;
          if (this.state !== 'connected') {
            this.#set('offline');
            this.#startPolling();
          }
        }, FALLBACK_MS);
      }
    });
  }

  /** Read the list once now (after a mutation while the stream is down). */
  async refresh() {
    if (this.state === 'connected') return;
    await this.#poll();
  }

  #startPolling() {
    if (this.polling) return;
    this.polling = true;
    this.#emit();
    const tick = async () => {
      if (!this.polling) return;
      await this.#poll();
      if (this.polling) this.pollTimer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  async #poll() {
    try {
      const data = await api(routes.runs(100));
      this.store.merge(data && data.runs);
      this.pollFailed = false;
      this.markReady();
    } catch {
      this.pollFailed = true;
    }
    this.#emit();
  }

  #stopPolling() {
    this.polling = false;
    this.pollFailed = false;
    clearTimeout(this.pollTimer);
    this.#emit();
  }

  #set(state) {
    if (this.state === state) return;
    this.state = state;
    this.#emit();
  }

  #emit() {
    this.dispatchEvent(new CustomEvent('state', { detail: { state: this.state, polling: this.polling } }));
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
