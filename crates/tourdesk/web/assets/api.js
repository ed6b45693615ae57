// The JSON API, from the browser. Works from any page that loaded this
// module from a Tourdesk server, including embeds on other websites.
const ORIGIN = new URL(import.meta.url).origin;

export function apiUrl(path) {
  return ORIGIN + path;
}

const TOKEN_KEY = 'tourdesk.token';
export const auth = {
  get token() { try { return localStorage.getItem(TOKEN_KEY); } catch { return null; } },
  set token(v) { try { v ? localStorage.setItem(TOKEN_KEY, v) : localStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ } },
};

/** Calls the API; resolves to {ok, status, data} and never throws for HTTP errors. */
export async function api(path, { method = 'GET', body, manageToken, headers = {}, accept } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  if (auth.token) h.authorization = `Bearer ${auth.token}`;
  if (manageToken) h['x-manage-token'] = manageToken;
  if (accept) h.accept = accept;
  let res;
  try {
    res = await fetch(apiUrl(path), { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { ok: false, status: 0, data: { detail: 'The booking service cannot be reached. Check your connection and try again.', code: 'network' } };
  }
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json().catch(() => ({})) : await res.text();
  return { ok: res.ok, status: res.status, data };
}

/** A person-readable sentence for a failed call. */
export function problem(r) {
  if (r.data && typeof r.data === 'object' && r.data.detail) return r.data.detail;
  return `Something went wrong (${r.status}).`;
}

export function money(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(Number(amount));
  } catch {
    return `${Number(amount).toFixed(2)} ${currency}`;
  }
}

/** "2026-12-25" → a local calendar date (no time-zone shift). */
export function parseDate(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  return new Date(y, m - 1, d);
}

export function isoDate(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}`;
}

export function formatDate(iso, opts = { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }) {
  return parseDate(iso).toLocaleDateString(undefined, opts);
}

export function formatTime(hms) {
  return (hms || '').slice(0, 5);
}

// Building markup from data: see html.js (kept here for older imports).
export { escapeHtml, html, raw, join, setHtml } from './html.js';
