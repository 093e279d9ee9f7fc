// The HTTP side of the dashboard: JSON requests, the admin token (browser-local only), errors as values.

const TOKEN_KEY = 'admin-token';
const tokenListeners = new Set();

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

/** Store the token; refuses what an HTTP header cannot carry, so a paste never breaks every request. */
export function setToken(token) {
  const value = token.trim();
  if (!value) throw new Error('The token is empty.');
  if (!/^[\x21-\x7e]+$/.test(value)) throw new Error('The token may hold only printable ASCII characters.');
  localStorage.setItem(TOKEN_KEY, value);
  tokenListeners.forEach((fn) => fn());
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
  tokenListeners.forEach((fn) => fn());
}

export function onTokenChange(fn) {
  tokenListeners.add(fn);
  return () => tokenListeners.delete(fn);
}

/** An answer other than 2xx: `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const message = (body && typeof body.message === 'string' && body.message)
      || (status ? `The server answered ${status}.` : 'The server could not be reached.');
    super(message);
    this.status = status;
    this.code = (body && body.error) || (status ? 'http' : 'network');
    this.field = (body && typeof body.field === 'string' && body.field) || null;
    this.retryAfter = retryAfter;
  }
}

function retryAfterOf(res, body) {
  const header = res.headers.get('retry-after');
  const seconds = header === null ? NaN : Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  if (header) {
    const when = Date.parse(header);
    if (Number.isFinite(when)) return Math.max(1, Math.ceil((when - Date.now()) / 1000));
  }
  const fromBody = body && Number(body.retryAfter);
  return Number.isFinite(fromBody) ? fromBody : null;
}

/** Fetch JSON; admin requests carry the stored token in `x-admin-token` (never in the URL). */
export async function api(path, { method = 'GET', body, admin = false, signal } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (admin) {
    const token = getToken();
    if (token) headers['x-admin-token'] = token;
  }
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, null, null);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data, retryAfterOf(res, data));
  return data;
}

/** Fetch text (CSV artifacts). */
export async function fetchText(path, { signal } = {}) {
  let res;
  try {
    res = await fetch(path, { signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, null, null);
  }
  if (!res.ok) throw new ApiError(res.status, null, null);
  return res.text();
}

/** A query string of the defined values: query({a: 1, b: null}) -> '?a=1'. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
}

const runPath = (id) => `/api/backtest/${encodeURIComponent(id)}`;

export const routes = {
  runs: (limit = 100, filters = {}) => `/api/backtest${query({ limit, ...filters })}`,
  run: (id) => runPath(id),
  equity: (id, points, from, to) => `${runPath(id)}/equity${query({ points, from, to })}`,
  ohlc: (id, points, from, to) => `${runPath(id)}/ohlc${query({ points, from, to })}`,
  trades: (id, { sort, limit, offset } = {}) => `${runPath(id)}/trades${query({ sort, limit, offset })}`,
  monthly: (id) => `${runPath(id)}/monthly`,
  artifacts: (id) => `/api/backtest/${encodeURIComponent(id)}/artifacts`,
  start: () => '/api/backtest/start',
  cancel: (id) => `/api/backtest/cancel/${encodeURIComponent(id)}`,
  stream: () => '/api/backtest/stream',
  strategies: () => '/api/strategies',
  feeds: () => '/api/feeds',
  config: () => '/api/config',
};

export const RUN_ID = /^bt-[0-9]{13}-[0-9a-f]{8}$/;
