// The JSON API, from the browser. Works from any page that loaded this
// module from a Tourdesk server, including embeds on other websites.
import { html } from './html.js';

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
    if (await originRefused()) {
      return { ok: false, status: 0, data: { detail: `This booking calendar can't load here: the site isn't allowed to use it.`, code: 'origin_not_allowed' } };
    }
    return { ok: false, status: 0, data: { detail: 'The booking service cannot be reached. Check your connection and try again.', code: 'network' } };
  }
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json().catch(() => ({})) : await res.text();
  return { ok: res.ok, status: res.status, data };
}

// Embedded on a website whose origin the server does not allow (its
// ALLOWED_ORIGINS), every call fails the way a network failure does: the
// browser hides the reason from scripts. A request that needs no permission
// (no-cors: its answer is opaque) tells the two apart: it reaches a server
// that is up, where the permitted kind of request failed.
let refused = null;
function originRefused() {
  if (SAME_ORIGIN) return Promise.resolve(false);
  refused ||= fetch(apiUrl('/healthz'), { mode: 'no-cors', credentials: 'omit', cache: 'no-store' })
    .then(() => true, () => false)
    .then((r) => { if (!r) refused = null; return r; });
  return refused;
}

/** Whether a failed call failed because this website may not use the API. */
export function refusedHere(r) {
  return r && r.status === 0 && r.data?.code === 'origin_not_allowed';
}

/**
 * What an embed shows when its website may not use this server: why, and
 * where the tour can be booked instead (its page on this server).
 */
export function refusedMessage(tourId) {
  const page = apiUrl(`/tours/${encodeURIComponent(tourId)}`);
  return html`<p class="error refused" role="alert" data-refused>This booking calendar can't load here: the site isn't allowed to use it.
    Book at <a href="${page}" target="_top">${page.replace(/^https?:\/\//, '')}</a> instead.</p>`;
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
  const d = r.data && typeof r.data === 'object' ? r.data : {};
  const text = [d.detail, d.message, d.error].find((x) => typeof x === 'string' && x);
  return text || `Something went wrong (${r.status}).`;
}

// A tour's public description (its time zone, currency, name), asked for
// once per page however many components need it.
const tours = new Map();
export function tourInfo(id) {
  const key = String(id);
  if (!tours.has(key)) {
    const p = api(`/api/calendar/tours/${encodeURIComponent(key)}`);
    tours.set(key, p);
    p.then((r) => { if (!r.ok && r.status !== 404) tours.delete(key); });
  }
  return tours.get(key);
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

// What customers read: one format everywhere, day before month with the
// month named, 24-hour clock, and times always with the tour's zone named
// ("Sat 12 Dec 2026, 09:00 (Europe/Madrid)"). Never the browser's zone, never
// 12/11/2026.
const DAY_PARTS = { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' };
const LONG_DAY_PARTS = { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' };

function dayText(parts) {
  const p = Object.fromEntries(parts.filter((x) => x.type !== 'literal').map((x) => [x.type, x.value]));
  return [p.weekday, p.day, p.month, p.year].filter(Boolean).join(' ');
}

/** A calendar date ("2026-12-12") as "Sat 12 Dec 2026" (`long`: "Saturday 12 December 2026"). */
export function formatDay(iso, long = false) {
  const [y, m, d] = String(iso || '').split('-').map(Number);
  if (!y || !m || !d) return '';
  const f = new Intl.DateTimeFormat('en-GB', { ...(long ? LONG_DAY_PARTS : DAY_PARTS), timeZone: 'UTC' });
  return dayText(f.formatToParts(new Date(Date.UTC(y, m - 1, d))));
}

/** The zone's name as shown, e.g. "(Europe/Madrid)"; empty when unknown. */
export function zoneLabel(tz) {
  return tz ? `(${tz})` : '';
}

/**
 * A departure's local date and time (as the tour keeps them, already in its
 * zone) with the zone named: "Sat 12 Dec 2026, 09:00 (Europe/Madrid)".
 */
export function formatLocal(iso, hms, tz, long = false) {
  return `${formatDay(iso, long)}, ${formatTime(hms)}${tz ? ` ${zoneLabel(tz)}` : ''}`;
}

/**
 * An instant ("2026-12-12T08:00:00Z") in the zone `tz` (an IANA name, the
 * tour's `timezone`), named: "Sat 12 Dec 2026, 09:00 (Europe/Madrid)". An
 * unknown zone shows UTC, named as such.
 */
export function formatInstant(instant, tz) {
  const date = new Date(instant);
  if (Number.isNaN(date.getTime())) return '';
  const fmt = (zone) => new Intl.DateTimeFormat('en-GB', {
    ...DAY_PARTS, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone,
  }).formatToParts(date);
  let zone = tz || 'UTC';
  let parts;
  try { parts = fmt(zone); } catch { zone = 'UTC'; parts = fmt(zone); }
  const p = Object.fromEntries(parts.filter((x) => x.type !== 'literal').map((x) => [x.type, x.value]));
  return `${dayText(parts)}, ${p.hour}:${p.minute} ${zoneLabel(zone)}`;
}

// Building markup from data: see html.js (kept here for older imports).
export { escapeHtml, html, raw, join, setHtml } from './html.js';
