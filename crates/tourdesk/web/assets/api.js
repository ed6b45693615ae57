// The JSON API, from the browser. Works from any page that loaded this
// module from a Tourdesk server, including embeds on other websites.
const ORIGIN = new URL(import.meta.url).origin;

export function apiUrl(path) {
  return ORIGIN + path;
}

// The web session lives in an HttpOnly cookie that no script can read; the
// server sets it at POST /api/auth/session. Requests carry it by themselves
// (same origin only), and every state-changing one echoes the session's CSRF
// token, which the server also puts in the script-readable `tourdesk_csrf`
// cookie. Embedded on another website the components are always a guest:
// the browser sends no Tourdesk cookie there, and `document.cookie` is that
// site's, so nothing is echoed.
const SAME_ORIGIN = typeof location !== 'undefined' && location.origin === ORIGIN;
const CSRF_COOKIE = 'tourdesk_csrf';
const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS'];

// Earlier versions kept a bearer token where any script could read it.
try { localStorage.removeItem('tourdesk.token'); } catch { /* storage disabled */ }
try { sessionStorage.removeItem('tourdesk.token'); } catch { /* storage disabled */ }

function csrfToken() {
  if (!SAME_ORIGIN) return null;
  for (const pair of document.cookie.split(';')) {
    const [name, ...value] = pair.trim().split('=');
    if (name === CSRF_COOKIE && value.length) return decodeURIComponent(value.join('='));
  }
  return null;
}

/** Calls the API; resolves to {ok, status, data} and never throws for HTTP errors. */
export async function api(path, { method = 'GET', body, manageToken, headers = {}, accept } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  if (manageToken) h['x-manage-token'] = manageToken;
  if (accept) h.accept = accept;
  const csrf = SAFE_METHODS.includes(method.toUpperCase()) ? null : csrfToken();
  if (csrf) h['x-csrf-token'] = csrf;
  let res;
  try {
    res = await fetch(apiUrl(path), {
      method, headers: h, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { ok: false, status: 0, data: { detail: 'The booking service cannot be reached. Check your connection and try again.', code: 'network' } };
  }
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json().catch(() => ({})) : await res.text();
  return { ok: res.ok, status: res.status, data };
}

/** The web session: log in and out with the cookie, ask who is logged in. */
export const session = {
  /** Whether this page may hold a session (a hint: ask `me()` to know). */
  get present() { return csrfToken() !== null; },
  /** GET /api/auth/me: ok with the user, or status 401 for a guest. */
  me() { return api('/api/auth/me'); },
  /** Logs in; the server sets the cookies. Resolves to {ok, status, data: {user, ...}}. */
  login(email, password) { return api('/api/auth/session', { method: 'POST', body: { email, password } }); },
  /** Ends this session; ok when it ended or had already ended. */
  async logout() {
    const r = await api('/api/auth/logout', { method: 'POST' });
    return r.status === 401 ? { ...r, ok: true } : r;
  },
  /** Ends every session of the user on every device; data.sessions_ended says how many. */
  logoutEverywhere() { return api('/api/auth/logout-all', { method: 'POST' }); },
};

/** The confirmation shown after "Log out everywhere" ended `n` sessions. */
export function loggedOutEverywhere(n) {
  const count = Number.isInteger(n) ? `${n} session${n === 1 ? '' : 's'} ended, this one included. ` : '';
  return `You are logged out everywhere. ${count}Every device and browser that was logged in with this account must log in again.`;
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
