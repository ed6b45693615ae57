// /admin: the operator's console. Hash routes: #slots (default), #tours,
// #schedules, #blackouts, #bookings, #booking/ID, #at-risk, #waitlist,
// #notifications, #messages, #message/ID, #manifest/ID, #webhooks,
// #webhook/ID (?status=), #webhook-delivery/ID, #reports (?from=&to=&tour=).
import { api, session, loggedOutEverywhere, problem, money, isoDate, parseDate, formatDate, formatTime } from '../api.js';
import { html, join, raw, setHtml } from '../html.js';
import { wallClock } from '../booking-calendar.js';

const main = document.getElementById('main');
// A table too wide for the screen scrolls inside its wrapper: keyboard
// users reach it (Tab, then arrows) and screen readers hear its name.
// Every view has one level-one heading: its own, else (for screen readers
// and the page outline) the selected section's name.
/** Keeps the view's level-one heading and names the scrolling tables. */
function syncHeadings() {
  const auto = main.querySelector('h1.auto-h1');
  const own = [...main.querySelectorAll('h1')].some((h) => h !== auto);
  const tab = main.querySelector('[role="tab"][aria-selected="true"]');
  const view = document.getElementById('view');
  if (own || !tab || !view) auto?.remove();
  else if (!auto || auto.parentElement !== view) {
    auto?.remove();
    view.prepend(Object.assign(document.createElement('h1'), { className: 'auto-h1 sr-only', textContent: tab.textContent, tabIndex: -1 }));
  } else if (auto.textContent !== tab.textContent) auto.textContent = tab.textContent;
  main.querySelectorAll('.table-wrap:not([tabindex])').forEach((w) => {
    w.tabIndex = 0;
    w.setAttribute('role', 'region');
    const before = w.previousElementSibling;
    const named = w.querySelector('caption')?.textContent?.trim()
      || (before && /^H[1-3]$/.test(before.tagName) ? before.textContent.trim() : '')
      || w.closest('section, .card')?.querySelector('h1, h2')?.textContent?.trim() || 'Table';
    // Regions need distinct names: a second "Bookings" becomes "Bookings (2)".
    const taken = new Set([...main.querySelectorAll('.table-wrap[aria-label]')].map((o) => o.getAttribute('aria-label')));
    let label = named;
    for (let n = 2; taken.has(label); n += 1) label = `${named} (${n})`;
    w.setAttribute('aria-label', label);
  });
}
new MutationObserver(syncHeadings).observe(main, { childList: true, subtree: true });
const TABS = [['slots', 'Slots'], ['tours', 'Tours'], ['schedules', 'Schedules'], ['blackouts', 'Blackouts'],
  ['bookings', 'Bookings'], ['at-risk', 'At risk'], ['waitlist', 'Waitlist'], ['notifications', 'Notifications'], ['messages', 'Messages'],
  ['webhooks', 'Webhooks'], ['reports', 'Reports']];
const TRANSITIONS = { pending: ['confirmed', 'cancelled'], confirmed: ['completed', 'no_show', 'cancelled'], cancelled: ['refunded'] };
let tours = [];

const tourName = (id) => tours.find((t) => t.id === id)?.name || `Tour ${id}`;
const tourOptions = (selected, any = 'All tours') =>
  html`<option value="">${any}</option>${tours.map((t) => html`<option value="${t.id}" ${String(t.id) === String(selected) ? 'selected' : ''}>${t.name}</option>`)}`;
const monday = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate() - ((d.getDay() + 6) % 7));
const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
const say = (el, text, ok = false) => { el.className = ok ? 'ok' : 'error'; el.textContent = text; };
// A message outlives the re-render that usually follows the action it reports.
let pendingFlash = null;
// Bumped by every render of a view: a refresh scheduled by an earlier view
// (see `poll`) sees it has been left and stops.
let viewCount = 0;
let pollTimer = null;
// Re-renders the slots view when the phone / desktop layout switches (set by the view).
let onLayoutChange = null;
const PHONE = matchMedia('(max-width: 640px)');
PHONE.addEventListener('change', () => onLayoutChange?.());

/**
 * Shows `body` as the view of section `active`. The tabs (an ARIA tablist:
 * one tab in the Tab order, arrows, Home and End move along it and open the
 * section) stay on the page across views, so the keyboard focus on a tab
 * survives the switch.
 */
function shell(active, body) {
  viewCount += 1;
  clearTimeout(pollTimer);
  onLayoutChange = null;
  if (!document.getElementById('view')) {
    setHtml(main, html`<div class="tabs no-print" role="tablist" aria-label="Console sections">${TABS.map(([k, label]) =>
      html`<button type="button" role="tab" id="tab-${k}" aria-controls="view" aria-selected="false" tabindex="-1" data-tab="${k}">${label}</button>`)}</div>
      <p id="flash" role="status" aria-live="polite"></p><section id="view" role="tabpanel"></section>`);
    wireTabs(main.querySelector('[role="tablist"]'));
  }
  main.querySelectorAll('[role="tab"]').forEach((t) => {
    const on = t.dataset.tab === active;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    // On a phone the strip scrolls sideways: the selected tab is brought to its middle (the page does not move).
    if (on) {
      const strip = t.parentElement, sr = strip.getBoundingClientRect(), tr = t.getBoundingClientRect();
      if (strip.scrollWidth > strip.clientWidth) strip.scrollLeft += (tr.left + tr.width / 2) - (sr.left + sr.width / 2);
    }
  });
  const view = document.getElementById('view');
  view.setAttribute('aria-labelledby', `tab-${active}`);
  const flashEl = document.getElementById('flash');
  flashEl.textContent = '';
  flashEl.className = '';
  if (pendingFlash && Date.now() - pendingFlash.at < 2000) say(flashEl, pendingFlash.text, pendingFlash.ok);
  pendingFlash = null;
  setHtml(view, body);
  return view;
}

/** Arrow keys, Home and End move along the tabs and open each; a click or Enter opens one and moves to its heading. */
function wireTabs(list) {
  const tabs = () => [...list.querySelectorAll('[role="tab"]')];
  list.addEventListener('click', (e) => {
    const t = e.target.closest('[role="tab"]');
    if (t) navigate(t.dataset.tab);
  });
  list.addEventListener('keydown', (e) => {
    const all = tabs(), i = all.indexOf(e.target);
    if (i < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
    if (j === undefined) return;
    e.preventDefault();
    const t = all[(j + all.length) % all.length];
    t.focus();
    navigate(t.dataset.tab, 'tab');
  });
}

// Where the keyboard focus goes once the next route has rendered: 'heading'
// (the view's h1), 'tab' (stay on the tab: arrow keys), a selector, or null
// (leave it: the first load).
let routeFocus = 'heading';
let routeCount = 0;
/** Opens `hash`, then focuses `focus` (see routeFocus); the same hash is shown again. */
function navigate(hash, focus = 'heading') {
  routeFocus = focus;
  if (location.hash.slice(1) === hash || (!location.hash && hash === 'slots')) route();
  else location.hash = hash;
}

/** Focuses the view's heading (made focusable), else the element at `selector`. */
function focusView(selector) {
  syncHeadings();
  const target = (selector && selector !== 'heading' && main.querySelector(selector)) || main.querySelector('#view h1') || main.querySelector('h1');
  if (!target) return;
  if (!target.hasAttribute('tabindex') && !target.matches('a[href], button, input, select, textarea')) target.tabIndex = -1;
  target.focus();
}

const flash = (text, ok = true) => {
  pendingFlash = { text, ok, at: Date.now() };
  const el = document.getElementById('flash');
  if (el) say(el, text, ok);
};

/** The login form; `message` is an error, `note` a confirmation (logged out). */
async function login(message, note) {
  document.getElementById('logout').hidden = true;
  document.getElementById('logout-all').hidden = true;
  window.onhashchange = null;
  setHtml(main, html`<form class="card narrow-card" id="login" novalidate><h1>Admin login</h1>
    ${note ? html`<p class="ok" role="status">${note}</p>` : ''}
    ${message ? html`<p class="error" role="alert">${message}</p>` : ''}
    <label for="email">Email</label><input id="email" type="email" autocomplete="username" required>
    <label for="password">Password</label><input id="password" type="password" autocomplete="current-password" required>
    <p><button class="btn" type="submit">Log in</button></p><p class="error" role="alert" id="login-error"></p></form>`);
  document.getElementById('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = e.target.querySelector('button[type="submit"]');
    button.disabled = true;
    const r = await session.login(document.getElementById('email').value, document.getElementById('password').value);
    button.disabled = false;
    if (!r.ok) return say(document.getElementById('login-error'), problem(r));
    if (r.data.user.role !== 'admin') {
      // Do not leave a customer logged in by a visit to the console.
      await session.logout();
      return say(document.getElementById('login-error'), 'This account is not an admin.');
    }
    start('heading');
  });
}

/** Logs out here, or everywhere; back to the login form with what happened. */
async function logOut(everywhere) {
  if (everywhere && !confirm('Log out on every device and browser where this account is logged in, this one included?')) return;
  const r = everywhere ? await session.logoutEverywhere() : await session.logout();
  if (!r.ok && r.status !== 401) return flash(`You are still logged in: ${problem(r)}`, false);
  login(null, everywhere ? loggedOutEverywhere(r.data?.sessions_ended) : 'You are logged out.');
}

// ---- slots: the week as a grid (an agenda on a phone), the day as a list ----
const longDate = (iso) => formatDate(iso, { weekday: 'long', day: 'numeric', month: 'long' });
const shortDate = (iso) => formatDate(iso, { weekday: 'short', day: 'numeric', month: 'short' });

/** A departure's cancellation or closure reason in words (the minimum's is recorded as a code). */
const reasonText = (reason) => (reason === 'minimum_not_reached' ? 'did not reach its minimum' : reason);

/** open, full, closed or cancelled: what a departure is now (shown as text and colour). */
function slotStatus(s) {
  if (s.is_cancelled) return 'cancelled';
  if (!s.is_available) return 'closed';
  return s.available_spots <= 0 ? 'full' : 'open';
}

/** The active waitlist entries of each day from `from` to `to` (one request a day: the API filters by date). */
async function waitingBetween(from, to) {
  const days = [];
  for (let d = from; d <= to; d = addDays(d, 1)) days.push(isoDate(d));
  const rs = await Promise.all(days.map((d) => api(`/api/calendar/admin/waitlist?date=${d}&status=active`)));
  return rs.flatMap((r) => (r.ok && Array.isArray(r.data) ? r.data : []));
}

/** Who waits for departure `s`: entries for its tour and date, for it or for any departure that day. */
function waitingFor(entries, s) {
  const mine = entries.filter((e) => e.tour_id === s.tour_id && e.requested_date === s.slot_date
    && (e.booking_slot_id === null || e.booking_slot_id === undefined || e.booking_slot_id === s.id));
  return { entries: mine.length, people: mine.reduce((n, e) => n + e.num_people, 0) };
}

/** The occupancy bar (booked, then held), sized through the CSSOM by `sizeBars`. */
const occupancyBar = (s) => html`<span class="bar" aria-hidden="true"><span data-share="${(100 * s.current_bookings) / s.max_capacity}"></span><span class="held" data-share="${(100 * s.held_spots) / s.max_capacity}"></span></span>`;
// Widths through the CSSOM: the page's policy refuses style attributes.
const sizeBars = (root) => root.querySelectorAll('.bar > span[data-share]').forEach((bar) => { bar.style.width = `${Math.max(0, Math.min(100, Number(bar.dataset.share)))}%`; });

/** A departure in the grid or the agenda: a button opening its detail panel. */
function departureCard(s, waiting, withTime) {
  const st = slotStatus(s), w = waitingFor(waiting, s);
  return html`<button type="button" class="dep dep-${st}" data-slot="${s.id}" data-status="${st}" aria-haspopup="dialog">
    ${withTime ? html`<span class="dep-time">${formatTime(s.start_time)}–${formatTime(s.end_time)}</span>` : ''}
    <span class="dep-tour">${tourName(s.tour_id)}</span>
    ${occupancyBar(s)}
    <span class="dep-figures"><span data-occupancy>${s.current_bookings}/${s.max_capacity} booked</span>${s.held_spots ? html` <span data-held>· ${s.held_spots} held</span>` : ''}${w.people ? html` <span data-waiting>· ${w.people} waiting</span>` : ''}</span>
    ${minimumTag(s)}
    <span class="st st-${st}" data-status-text>${st}</span></button>`;
}

/** The week as a table: days across (Monday first), start times down. */
function weekGrid(days, slots, waiting) {
  const times = [...new Set(slots.map((s) => s.start_time))].sort();
  const today = isoDate(new Date());
  return html`<div class="table-wrap week-wrap"><table class="week-grid" id="week-grid">
    <caption class="sr-only">Departures from ${longDate(days[0])} to ${longDate(days[6])}, by day and start time</caption>
    <thead><tr><th scope="col" class="time-col">Time</th>${days.map((d) => html`<th scope="col" data-day="${d}" class="${d === today ? 'today' : ''}" ${d === today ? raw`aria-current="date"` : ''}><time datetime="${d}">${shortDate(d)}</time></th>`)}</tr></thead>
    <tbody>${times.map((t) => html`<tr data-time="${t}"><th scope="row">${formatTime(t)}</th>
      ${days.map((d) => {
        const here = slots.filter((s) => s.slot_date === d && s.start_time === t);
        return html`<td data-day="${d}" data-time="${t}">${here.map((s) => departureCard(s, waiting, false))}</td>`;
      })}</tr>`)}</tbody></table></div>`;
}

/** The week on a phone: day after day, each departure a card. */
function weekAgenda(days, slots, waiting) {
  return html`<div class="agenda" id="week-agenda">${days.map((d) => {
    const here = slots.filter((s) => s.slot_date === d).sort((x, y) => x.start_time.localeCompare(y.start_time));
    return html`<section class="agenda-day" data-day="${d}" aria-labelledby="ag-${d}"><h2 id="ag-${d}"><time datetime="${d}">${longDate(d)}</time></h2>
      ${here.length ? html`<ul class="agenda-list">${here.map((s) => html`<li>${departureCard(s, waiting, true)}</li>`)}</ul>` : html`<p class="muted">No departures.</p>`}</section>`;
  })}</div>`;
}

/** The day as a list, with the actions in each row. */
function dayList(slots, waiting) {
  return html`<div class="table-wrap"><table class="stack-on-phone" id="day-list"><thead><tr><th scope="col">Time</th><th scope="col">Tour</th><th scope="col">Occupancy</th><th scope="col">Price</th><th scope="col">State</th><th scope="col" class="no-print">Actions</th></tr></thead><tbody>
    ${slots.map((s) => {
      const w = waitingFor(waiting, s), st = slotStatus(s);
      return html`<tr data-slot="${s.id}"><td data-label="Time">${formatTime(s.start_time)}–${formatTime(s.end_time)}</td><td data-label="Tour">${tourName(s.tour_id)}</td>
        <td data-label="Occupancy"><span><span class="bar" role="img" aria-label="${s.current_bookings} booked, ${s.held_spots} held of ${s.max_capacity}"><span data-share="${(100 * s.current_bookings) / s.max_capacity}"></span><span class="held" data-share="${(100 * s.held_spots) / s.max_capacity}"></span></span>
          <span class="muted">${s.current_bookings} booked${s.held_spots ? `, ${s.held_spots} held` : ''} / ${s.max_capacity} · ${s.available_spots} left${w.people ? ` · ${w.people} waiting` : ''}</span></span></td>
        <td data-label="Price">${money(s.price_per_person, s.currency)}</td>
        <td data-label="State"><span class="st st-${st}">${st}</span>${s.is_cancelled && s.cancellation_reason ? html` <span class="muted">${reasonText(s.cancellation_reason)}</span>` : ''}${minimumTag(s)}</td>
        <td class="no-print" data-label="Actions"><span class="actions">${s.is_cancelled ? '' : html`
          <input aria-label="Capacity" type="number" min="1" value="${s.max_capacity}" class="w-5-5rem" data-cap>
          <button class="btn secondary" data-act="cap">Set capacity</button>
          <input aria-label="Price" type="number" min="0" step="0.01" value="${s.price_per_person}" class="w-6-5rem" data-price>
          <button class="btn secondary" data-act="price">Set price</button>
          <button class="btn secondary" data-act="toggle">${s.is_available ? 'Close' : 'Open'}</button>
          <button class="btn secondary" data-act="waitlist">Process waitlist</button>
          <button class="btn danger" data-act="cancel">Cancel departure</button>`}
          <a class="btn secondary" href="#manifest/${s.id}">Manifest</a></span></td></tr>`;
    })}</tbody></table></div>`;
}

/**
 * Runs a slot action (cap, price, toggle, waitlist) with `value` for cap
 * and price; answers the API's response, with the flash text on success.
 */
async function slotAction(slot, act, value) {
  const path = `/api/calendar/admin/slots/${slot.id}`;
  let res;
  if (act === 'cap') res = await api(path, { method: 'PATCH', body: { max_capacity: Number(value) } });
  if (act === 'price') res = await api(path, { method: 'PATCH', body: { price_per_person: value } });
  if (act === 'toggle') res = await api(path, { method: 'PATCH', body: { is_available: !slot.is_available } });
  if (act === 'waitlist') res = await api(`${path}/process-waitlist`, { method: 'POST' });
  if (res.ok) res.text = act === 'waitlist' ? `${res.data.notified} waitlist entr${res.data.notified === 1 ? 'y' : 'ies'} notified.` : 'Saved.';
  return res;
}

/** The element that stands for departure `id` in the view (its card, or its row's button `act`). */
function departureElement(id, act) {
  const list = document.getElementById('slot-list');
  if (!list) return null;
  const card = list.querySelector(`.dep[data-slot="${Number(id)}"]`);
  if (card) return card;
  const row = list.querySelector(`tr[data-slot="${Number(id)}"]`);
  return row ? row.querySelector(`[data-act="${act}"]`) || row.querySelector('[data-act], a') : null;
}

/** The detail panel of a departure in the grid: its figures and every action. */
function departurePanel(s, waiting, opener, refresh) {
  const st = slotStatus(s), w = waitingFor(waiting, s);
  const when = `${formatDate(s.slot_date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}, ${formatTime(s.start_time)}–${formatTime(s.end_time)}`;
  const dlg = openDialog('sd-title', html`<div class="slot-detail" data-slot="${s.id}">
    <h2 id="sd-title">${tourName(s.tour_id)}</h2><p>${when}</p>
    ${occupancyBar(s)}
    <dl class="facts"><dt>Status</dt><dd><span class="st st-${st}" data-status-text>${st}</span>${s.cancellation_reason ? html` ${reasonText(s.cancellation_reason)}` : ''}</dd>
      <dt>Booked</dt><dd data-booked>${s.current_bookings} of ${s.max_capacity}</dd>
      ${minimumFact(s)}
      <dt>Held</dt><dd>${s.held_spots} <span class="muted">(offered to the waitlist)</span></dd>
      <dt>Free</dt><dd>${s.available_spots}</dd>
      <dt>Waitlist</dt><dd>${w.entries ? html`${w.entries} entr${w.entries === 1 ? 'y' : 'ies'}, ${w.people} ${w.people === 1 ? 'person' : 'people'} <a href="#waitlist?tour_id=${s.tour_id}&amp;date=${s.slot_date}&amp;status=active">see them</a>` : 'nobody waiting'}</dd>
      <dt>Price</dt><dd>${money(s.price_per_person, s.currency)} per person</dd></dl>
    ${s.is_cancelled ? '' : html`<form class="row" data-form="cap" novalidate><div><label for="sd-cap">Capacity</label><input id="sd-cap" type="number" min="1" value="${s.max_capacity}" class="w-6rem"></div>
        <div><button class="btn secondary" type="submit">Set capacity</button></div></form>
      <form class="row" data-form="price" novalidate><div><label for="sd-price">Price per person (${s.currency})</label><input id="sd-price" type="number" min="0" step="0.01" value="${s.price_per_person}" class="w-7rem"></div>
        <div><button class="btn secondary" type="submit">Set price</button></div></form>`}
    ${atRisk(s) ? decisionForm(s, 'sd') : ''}
    <p class="error" role="alert" data-err></p>
    <p class="actions">${atRisk(s) ? html`<button class="btn" type="button" data-act="guarantee">Guarantee departure</button>` : ''}
      ${s.is_cancelled ? '' : html`<button class="btn secondary" type="button" data-act="toggle">${s.is_available ? 'Close for booking' : 'Open for booking'}</button>
      <button class="btn secondary" type="button" data-act="waitlist">Process waitlist</button>
      <button class="btn danger" type="button" data-act="cancel">Cancel departure</button>`}
      <a class="btn secondary" href="#manifest/${s.id}">Manifest</a>
      <button class="btn secondary" type="button" data-close>Close</button></p></div>`, opener);
  const err = dlg.querySelector('.slot-detail > [data-err]');
  const run = async (act, value, button) => {
    err.textContent = '';
    button.disabled = true;
    const res = await slotAction(s, act, value);
    button.disabled = false;
    if (!res.ok) { err.textContent = problem(res); return; }
    flash(res.text);
    dlg.close();
    await refresh(s.id);
  };
  dlg.querySelectorAll('form[data-form]').forEach((f) => f.addEventListener('submit', (e) => {
    e.preventDefault();
    run(f.dataset.form, f.querySelector('input').value, f.querySelector('button'));
  }));
  dlg.querySelectorAll('[data-act]').forEach((b) => b.addEventListener('click', () => {
    if (b.dataset.act === 'guarantee') {
      dlg.close();
      return guaranteeDeparture(s, opener, (done) => { flash(done.text); refresh(s.id); });
    }
    if (b.dataset.act !== 'cancel') return run(b.dataset.act, null, b);
    dlg.close();
    cancelDeparture(s, opener);
  }));
  const decision = dlg.querySelector('form[data-decision]');
  if (decision) {
    wireDecisionForm(decision, s, (updated, text) => {
      flash(text);
      dlg.close();
      refresh(updated.id);
    });
  }
  dlg.querySelectorAll('a[href]').forEach((a) => a.addEventListener('click', () => dlg.close()));
}

/** The slots view; `focusSlot` (with `act` in the day list) gets the focus once shown. */
async function slotsView(focusSlot, act) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const mode = params.get('mode') === 'day' ? 'day' : 'week';
  const asked = params.get('from') && /^\d{4}-\d{2}-\d{2}$/.test(params.get('from')) ? parseDate(params.get('from')) : new Date();
  const from = mode === 'week' ? monday(asked) : asked;
  const to = mode === 'week' ? addDays(from, 6) : from;
  const title = mode === 'week' ? `Departures, week of ${formatDate(isoDate(from), { day: 'numeric', month: 'long', year: 'numeric' })}`
    : `Departures, ${formatDate(isoDate(from), { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}`;
  const view = shell('slots', html`<h1 id="slots-title">${title}</h1><div class="row no-print slot-controls">
      <div><label for="from">${mode === 'week' ? 'Week of' : 'Day'}</label><input id="from" type="date" value="${isoDate(from)}"></div>
      <div class="actions"><button class="btn secondary" type="button" data-shift="-1">‹ Previous<span class="sr-only"> ${mode}</span></button><button class="btn secondary" type="button" data-shift="1">Next<span class="sr-only"> ${mode}</span> ›</button>
      <button class="btn secondary" type="button" data-mode="${mode === 'week' ? 'day' : 'week'}">${mode === 'week' ? 'Day view' : 'Week view'}</button></div></div>
      ${mode === 'week' ? html`<p class="muted legend-line no-print">Each departure shows its tour, booked of capacity, places held for waitlist offers, people waiting, and its status. Choose one for its details and actions.</p>` : ''}
      <div id="slot-list" aria-busy="true"><p class="skeleton"></p><p class="skeleton"></p></div>`);
  // The focus stays on the control used (Previous, Next, the date), or goes to the new heading.
  const go = (d, m = mode, focus = '#slots-title') => navigate(`slots?mode=${m}&from=${isoDate(d)}`, focus);
  view.querySelector('#from').addEventListener('change', (e) => e.target.value && go(parseDate(e.target.value), mode, '#from'));
  view.querySelectorAll('[data-shift]').forEach((b) => b.addEventListener('click', () =>
    go(addDays(from, Number(b.dataset.shift) * (mode === 'week' ? 7 : 1)), mode, `[data-shift="${b.dataset.shift}"]`)));
  view.querySelector('[data-mode]').addEventListener('click', (e) => go(from, e.currentTarget.dataset.mode));
  const shown = stillShown();
  const [r, waiting] = await Promise.all([api(`/api/calendar/admin/slots?start_date=${isoDate(from)}&end_date=${isoDate(to)}`), waitingBetween(from, to)]);
  if (!shown()) return;
  const list = view.querySelector('#slot-list');
  list.setAttribute('aria-busy', 'false');
  if (!r.ok) return say(list, problem(r));
  const slots = r.data;
  const refresh = (id, a) => slotsView(id, a);
  const render = () => {
    const keep = document.activeElement?.closest?.('[data-slot]')?.dataset.slot;
    if (!slots.length) setHtml(list, html`<p class="muted">No departures in this period. Create a schedule (it makes its departures up to the booking horizon) or generate its slots.</p>`);
    else if (mode === 'day') setHtml(list, dayList(slots, waiting));
    else {
      const days = [0, 1, 2, 3, 4, 5, 6].map((n) => isoDate(addDays(from, n)));
      setHtml(list, PHONE.matches ? weekAgenda(days, slots, waiting) : weekGrid(days, slots, waiting));
    }
    sizeBars(list);
    list.querySelectorAll('.dep[data-slot]').forEach((b) => b.addEventListener('click', () => {
      departurePanel(slots.find((s) => String(s.id) === b.dataset.slot), waiting, b, refresh);
    }));
    list.querySelectorAll('tr[data-slot]').forEach((row) => row.querySelectorAll('[data-act]').forEach((b) => b.addEventListener('click', async () => {
      const slot = slots.find((s) => String(s.id) === row.dataset.slot);
      if (b.dataset.act === 'cancel') return cancelDeparture(slot, b);
      const value = b.dataset.act === 'cap' ? row.querySelector('[data-cap]').value : b.dataset.act === 'price' ? row.querySelector('[data-price]').value : null;
      b.disabled = true;
      const res = await slotAction(slot, b.dataset.act, value);
      b.disabled = false;
      if (!res.ok) return flash(problem(res), false);
      flash(res.text);
      refresh(slot.id, b.dataset.act);
    })));
    if (keep) departureElement(keep)?.focus();
  };
  render();
  if (mode === 'week') onLayoutChange = render;
  if (focusSlot !== undefined) departureElement(focusSlot, act)?.focus();
}

// ---- a departure's minimum: at risk, guarantee, decision deadline (issue #18) ----
const GUARANTEED_BY = {
  minimum_reached: 'the minimum was reached', manual: 'guaranteed by an operator', deadline: 'it had its minimum at the deadline',
};
/** The tour's time zone, which a departure's local times are in. */
const tourZone = (s) => s.timezone || tours.find((t) => t.id === s.tour_id)?.timezone || '';
/** A local RFC 3339 time as a datetime-local input's value ("2026-12-01T09:00"). */
const localInputValue = (local) => (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.exec(local || '') || [''])[0];
/** Waiting for its minimum and still to be decided by an operator: guarantee and deadline apply. */
const atRisk = (s) => s.guarantee?.status === 'pending' && !s.is_cancelled;
/** "Tue 1 Dec, 09:00 (Asia/Jerusalem)": a deadline in the tour's wall-clock time. */
const deadlineText = (s) => {
  const w = wallClock(s.guarantee?.decision_at_local);
  return w ? `${w}${tourZone(s) ? ` (${tourZone(s)})` : ''}` : 'no deadline';
};

/** The minimum in a departure card or the day list: "needs 3 more", or "guaranteed". */
function minimumTag(s) {
  const g = s.guarantee;
  if (!g || s.is_cancelled) return '';
  if (g.status === 'pending') return html` <span class="dep-min pending" data-minimum="pending">needs ${g.needed} more</span>`;
  if (g.status === 'guaranteed' && g.min_capacity > 1) return html` <span class="dep-min guaranteed" data-minimum="guaranteed"><span aria-hidden="true">✓ </span>guaranteed</span>`;
  return '';
}

/** The minimum as a fact of the departure panel. */
function minimumFact(s) {
  const g = s.guarantee;
  if (!g || (g.status === 'none' && !(g.min_capacity > 1))) return '';
  let text;
  if (g.status === 'pending' && !s.is_cancelled) text = `Not yet guaranteed: ${g.booked} of a minimum of ${g.min_capacity} booked, needs ${g.needed} more; decided on ${deadlineText(s)}`;
  else if (g.status === 'pending' || g.status === 'cancelled') text = `Called off: it did not reach its minimum of ${g.min_capacity}`;
  else if (g.status === 'guaranteed') text = `Guaranteed to run (${GUARANTEED_BY[g.guaranteed_by] || g.guaranteed_by || 'guaranteed'})${g.guaranteed_at ? `, ${new Date(g.guaranteed_at).toLocaleString()}` : ''}; minimum ${g.min_capacity}`;
  else text = `Minimum ${g.min_capacity}`;
  return html`<dt>Minimum</dt><dd data-guarantee="${g.status}">${text}</dd>`;
}

/** The form that moves a departure's decision deadline (a wall-clock time in the tour's zone). */
function decisionForm(s, prefix) {
  const id = `${prefix}-decision-${s.id}`, zone = tourZone(s);
  return html`<form class="row decision-form" data-decision="${s.id}" novalidate>
    <div><label for="${id}">Extend deadline to${zone ? html` <span class="muted">(${zone})</span>` : ''}</label>
      <span class="decision-input"><input id="${id}" name="decision_at" type="datetime-local" value="${localInputValue(s.guarantee?.decision_at_local)}" aria-describedby="${id}-err">
      <button class="btn secondary" type="submit">Save<span class="sr-only"> the deadline of ${tourName(s.tour_id)}, ${formatDate(s.slot_date)} ${formatTime(s.start_time)}</span></button></span>
      <p class="field-error" id="${id}-err" data-field-err="decision_at"></p></div>
    <p class="error" role="alert" data-err></p></form>`;
}

/** Saves a new deadline; a 422 shows under the field. `saved(slot, text)` after success. */
function wireDecisionForm(form, s, saved) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const input = form.elements.namedItem('decision_at');
    if (!input.value) return fieldError(form, 'decision_at', 'Choose the date and time to decide by.');
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const r = await api(`/api/calendar/admin/slots/${s.id}/decision`, { method: 'POST', body: { decision_at: input.value } });
    button.disabled = false;
    if (!r.ok) {
      const text = problem(r).replace(/^decision_at:\s*/, '');
      if (!(r.status === 422 && fieldError(form, 'decision_at', text))) say(form.querySelector('[data-err]'), text);
      return;
    }
    const updated = { ...s, ...r.data };
    saved(updated, `Decision deadline of ${tourName(s.tour_id)}, ${formatDate(s.slot_date)} ${formatTime(s.start_time)}, moved to ${deadlineText(updated)}.`);
  });
}

/**
 * Asks to guarantee departure `s` (it then runs whatever the number), with
 * an optional reason for the history; `done({slot, text})` once guaranteed.
 */
function guaranteeDeparture(s, opener, done) {
  const g = s.guarantee || {};
  const when = `${formatDate(s.slot_date, { weekday: 'long', day: 'numeric', month: 'long' })} ${formatTime(s.start_time)}`;
  const dlg = openDialog('gd-title', html`<form id="gd-form" novalidate>
    <h2 id="gd-title">Guarantee the ${when} departure of ${tourName(s.tour_id)}?</h2>
    <p>It has ${g.booked} of the ${g.min_capacity} people it needs. Guaranteed, it runs with however many are booked: it is not cancelled at its deadline, and its customers see that it is guaranteed to run. This cannot be undone.</p>
    <label for="gd-reason">Reason <span class="muted">(optional, kept in each booking's history)</span></label>
    <textarea id="gd-reason" maxlength="1000" aria-describedby="gd-err"></textarea>
    <p class="field-error" id="gd-err" role="alert"></p>
    <p class="actions"><button class="btn" type="submit" data-ok>Guarantee departure</button>
      <button class="btn secondary" type="button" data-close>Not now</button></p></form>`, opener);
  const form = dlg.querySelector('form'), err = form.querySelector('#gd-err');
  form.querySelector('[data-ok]').focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const button = form.querySelector('[data-ok]');
    button.disabled = true;
    const reason = form.querySelector('#gd-reason').value.trim();
    const res = await api(`/api/calendar/admin/slots/${s.id}/guarantee`, { method: 'POST', body: reason ? { reason } : {} });
    button.disabled = false;
    if (!res.ok) { err.textContent = problem(res); return; }
    dlg.close();
    done({ slot: res.data, text: `The ${formatDate(s.slot_date)} ${formatTime(s.start_time)} departure of ${tourName(s.tour_id)} is guaranteed to run.` });
  });
}

/** Departures below their minimum, soonest decision first, with the guarantee and the deadline at hand. */
async function atRiskView(focusSelector) {
  const view = shell('at-risk', html`<h1 id="ar-title">Departures at risk</h1>
    <p class="muted">Departures that have not reached their minimum, soonest decision first. At its deadline a departure still short of its minimum
      is cancelled and its customers are refunded in full; one that has its minimum is guaranteed. Guarantee one to run it anyway, or give it more time.</p>
    <div id="ar-list" aria-busy="true"><p class="skeleton"></p><p class="skeleton"></p></div>`);
  const shown = stillShown();
  const r = await api('/api/calendar/admin/departures/at-risk');
  if (!shown()) return;
  const list = view.querySelector('#ar-list');
  list.setAttribute('aria-busy', 'false');
  if (!r.ok) return say(list, problem(r));
  let rows = Array.isArray(r.data) ? r.data : [];
  const render = () => {
    const now = Date.now();
    setHtml(list, rows.length ? html`<p class="muted" id="ar-count">${rows.length} departure${rows.length === 1 ? '' : 's'} not yet guaranteed.</p>
      <div class="table-wrap"><table id="at-risk" class="stack-on-phone"><caption class="sr-only">Departures at risk, soonest decision first</caption>
      <thead><tr><th scope="col">Tour</th><th scope="col">Departure</th><th scope="col">Booked / minimum</th><th scope="col">Needed</th><th scope="col">Decision deadline</th><th scope="col" class="no-print">Actions</th></tr></thead><tbody>
      ${rows.map((s) => {
        const g = s.guarantee || {}, zone = tourZone(s);
        const late = g.decision_at && Date.parse(g.decision_at) <= now;
        return html`<tr data-slot="${s.id}"><td data-label="Tour">${s.tour_name || tourName(s.tour_id)}</td>
          <td data-label="Departure"><time datetime="${s.starts_at}">${formatDate(s.slot_date, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' })} ${formatTime(s.start_time)}</time>${zone ? html` <span class="muted">(${zone})</span>` : ''}
            <br><a href="#manifest/${s.id}">Manifest</a></td>
          <td data-label="Booked" data-booked>${g.booked} / ${g.min_capacity}</td>
          <td data-label="Needed" data-needed>${g.needed} more</td>
          <td data-label="Deadline" data-deadline>${deadlineText(s)}${late ? html`<br><span class="muted">passed: decided on the next run</span>` : ''}</td>
          <td data-label="Actions" class="no-print"><p class="actions"><button class="btn" type="button" data-guarantee>Guarantee<span class="sr-only"> ${s.tour_name || tourName(s.tour_id)}, ${formatDate(s.slot_date)} ${formatTime(s.start_time)}</span></button></p>
            ${decisionForm(s, 'ar')}</td></tr>`;
      })}</tbody></table></div>`
      : html`<p class="muted" id="ar-count" tabindex="-1">No departure is at risk: every departure with a minimum has reached it or been guaranteed.</p>`);
    list.querySelectorAll('tr[data-slot]').forEach((row) => {
      const s = rows.find((x) => String(x.id) === row.dataset.slot);
      row.querySelector('[data-guarantee]').addEventListener('click', (e) => guaranteeDeparture(s, e.currentTarget, (done) => {
        const i = rows.indexOf(s);
        rows = rows.filter((x) => x !== s);
        flash(done.text);
        render();
        // The focus goes to the next departure's Guarantee, else to what is left.
        const next = list.querySelectorAll('tr[data-slot] [data-guarantee]')[Math.min(i, rows.length - 1)];
        (next || list.querySelector('#ar-count') || view.querySelector('#ar-title')).focus();
      }));
      wireDecisionForm(row.querySelector('form[data-decision]'), s, (updated, text) => {
        rows = rows.map((x) => (x === s ? updated : x))
          .sort((a, b) => Date.parse(a.guarantee?.decision_at || 0) - Date.parse(b.guarantee?.decision_at || 0));
        flash(text);
        render();
        list.querySelector(`tr[data-slot="${Number(updated.id)}"] input[name="decision_at"]`)?.focus();
      });
    });
  };
  render();
  if (focusSelector) list.querySelector(focusSelector)?.focus();
}

// ---- dialogs ----
/**
 * A modal <dialog> holding `body` (a form with `[data-close]` buttons);
 * removed from the page when closed, focus back on `opener`.
 */
function openDialog(labelId, body, opener) {
  const dlg = document.createElement('dialog');
  dlg.className = 'dialog';
  dlg.setAttribute('aria-labelledby', labelId);
  setHtml(dlg, body);
  document.body.appendChild(dlg);
  dlg.addEventListener('close', () => { dlg.remove(); if (opener?.isConnected) opener.focus(); });
  dlg.querySelectorAll('[data-close]').forEach((b) => b.addEventListener('click', () => dlg.close()));
  dlg.showModal();
  return dlg;
}

/** Asks a yes/no question in a dialog; resolves to true for `ok`. */
function confirmDialog(title, text, ok, opener, danger = false) {
  return new Promise((resolve) => {
    let answer = false;
    const dlg = openDialog('cf-title', html`<form method="dialog"><h2 id="cf-title">${title}</h2><p>${text}</p>
      <p class="actions"><button class="btn ${danger ? 'danger' : ''}" type="submit" data-ok>${ok}</button>
      <button class="btn secondary" type="button" data-close>Not now</button></p></form>`, opener);
    dlg.querySelector('[data-ok]').addEventListener('click', () => { answer = true; });
    dlg.addEventListener('close', () => resolve(answer));
  });
}

// ---- cancelling a departure ----
/** Asks why (customers are told), cancels, then shows who was affected. */
function cancelDeparture(slot, opener) {
  const when = `${formatDate(slot.slot_date)} ${formatTime(slot.start_time)}`;
  const dlg = openDialog('cd-title', html`<form id="cd-form" novalidate>
    <h2 id="cd-title">Cancel the ${when} departure of ${tourName(slot.tour_id)}?</h2>
    <p>${slot.current_bookings ? `Every booking on it (${slot.current_bookings} ${slot.current_bookings === 1 ? 'person' : 'people'}) is cancelled, and each customer is emailed the reason.`
      : 'Nobody is booked on it.'} This cannot be undone.</p>
    <label for="cd-reason">Reason <span class="muted">(the customers read it)</span></label>
    <textarea id="cd-reason" name="reason" maxlength="2000" required aria-describedby="cd-err"></textarea>
    <p class="field-error" id="cd-err" role="alert"></p>
    <p class="actions"><button class="btn danger" type="submit">Cancel departure</button>
      <button class="btn secondary" type="button" data-close>Keep it</button></p></form>`, opener);
  const form = dlg.querySelector('form'), reason = form.querySelector('#cd-reason'), err = form.querySelector('#cd-err');
  reason.focus();
  reason.addEventListener('input', () => { err.textContent = ''; reason.removeAttribute('aria-invalid'); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!reason.value.trim()) { reason.setAttribute('aria-invalid', 'true'); err.textContent = 'Give a reason: it is sent to the customers.'; return; }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const res = await api(`/api/calendar/admin/slots/${slot.id}/cancel`, { method: 'POST', body: { reason: reason.value.trim() } });
    button.disabled = false;
    if (!res.ok) { err.textContent = problem(res); return; }
    dlg.close();
    cancelledView(res.data);
  });
}

/** "2 adults, 1 child": a party in words. */
function party(b) {
  const part = (n, one, many) => (n ? `${n} ${n === 1 ? one : many}` : '');
  return [part(b.num_adults, 'adult', 'adults'), part(b.num_children, 'child', 'children'), part(b.num_infants, 'infant', 'infants')].filter(Boolean).join(', ');
}

/**
 * The bookings a cancelled departure had, with how to reach each customer
 * and a rebook action (a new booking on another departure of the tour).
 */
function affectedTable(list, tourId) {
  return html`<div class="table-wrap"><table id="affected" class="stack-on-phone"><caption class="sr-only">Affected bookings</caption>
    <thead><tr><th scope="col">Reference</th><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Phone</th><th scope="col">Party</th><th scope="col" class="no-print">Rebook</th></tr></thead><tbody>
    ${list.map((b) => html`<tr data-affected="${b.booking_id}" data-people="${b.total_people}" data-tour="${tourId}">
      <td data-label="Reference"><a href="#booking/${b.booking_id}">${b.booking_reference}</a></td><td data-label="Name">${b.customer_name}</td>
      <td data-label="Email"><a href="mailto:${b.customer_email}">${b.customer_email}</a></td>
      <td data-label="Phone">${b.customer_phone ? html`<a href="tel:${b.customer_phone}">${b.customer_phone}</a>` : html`<span class="muted">none given</span>`}</td>
      <td data-label="Party">${party(b)}</td>
      <td class="no-print"><button class="btn secondary" type="button" data-rebook aria-expanded="false">Rebook…<span class="sr-only"> ${b.customer_name}</span></button>
        <div data-picker></div></td></tr>`)}</tbody></table></div>`;
}

/** Wires the rebook buttons of an `affectedTable`. */
function wireRebook(root) {
  root.querySelectorAll('tr[data-affected]').forEach((row) => {
    const button = row.querySelector('[data-rebook]'), host = row.querySelector('[data-picker]');
    button.addEventListener('click', () => {
      const open = button.getAttribute('aria-expanded') !== 'true';
      button.setAttribute('aria-expanded', String(open));
      if (!open) { setHtml(host, html``); return; }
      movePicker(host, { tourId: Number(row.dataset.tour), people: Number(row.dataset.people) }, async (to) => {
        const r = await api(`/api/calendar/admin/bookings/${row.dataset.affected}/rebook`, { method: 'POST', body: { booking_slot_id: to.id } });
        if (!r.ok) return r;
        button.remove();
        setHtml(host, html`<p class="ok" role="status" data-rebooked>Rebooked as <a href="#booking/${r.data.id}">${r.data.booking_reference}</a>
          on ${formatDate(r.data.tour_date)} ${formatTime(r.data.tour_time)}; the confirmation is emailed to the customer.</p>`);
        return r;
      });
    });
  });
}

/** What a departure cancellation did: who was affected, and rebooking them. */
function cancelledView(data) {
  const s = data.slot, list = data.affected_bookings;
  const view = shell('slots', html`<p class="no-print"><a href="#slots?mode=day&amp;from=${s.slot_date}">← Slots</a></p>
    <section class="card" id="cancel-result" aria-labelledby="cr-title">
    <h1 id="cr-title" tabindex="-1">Departure cancelled</h1>
    <p>${tourName(s.tour_id)}, ${formatDate(s.slot_date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })} ${formatTime(s.start_time)}.
      Reason: ${s.cancellation_reason || ''}</p>
    ${list.length ? html`<p><strong>${list.length} booking${list.length === 1 ? ' was' : 's were'} cancelled.</strong>
      Each customer is emailed the cancellation with your reason (see <a href="#messages">Messages</a>).
      Offer them another departure: “Rebook…” makes a new booking for the same party and contact, and emails them its confirmation.</p>
      ${affectedTable(list, s.tour_id)}` : html`<p>No bookings were on it.</p>`}
    <p class="no-print"><a class="btn secondary" href="#manifest/${s.id}">Manifest</a></p></section>`);
  wireRebook(view);
  view.querySelector('#cr-title').focus();
}

// ---- moving a booking ----
const closedWhy = (s, people) => (s.is_cancelled ? 'cancelled' : !s.is_available ? 'closed'
  : s.available_spots < people ? `only ${s.available_spots} free` : '');

/**
 * The departures of a tour (from `from`, 60 days at a time) with their free
 * places, as buttons; `choose(slot)` acts on the one picked and answers the
 * API's response (an error is shown under the list).
 */
async function movePicker(host, opts, choose) {
  const { tourId, people, currentSlotId } = opts;
  const from = opts.from || new Date(), to = addDays(from, 59);
  setHtml(host, html`<p class="skeleton"></p>`);
  const r = await api(`/api/calendar/admin/slots?start_date=${isoDate(from)}&end_date=${isoDate(to)}`);
  if (!r.ok) return say(host, problem(r));
  const now = Date.now();
  const slots = r.data.filter((s) => s.tour_id === tourId && s.id !== currentSlotId && Date.parse(s.starts_at) > now);
  setHtml(host, html`<div class="move-picker" role="group" aria-label="Departures of ${tourName(tourId)}">
    <p class="muted">Departures from ${formatDate(isoDate(from))} to ${formatDate(isoDate(to))} with their free places; the party needs ${people}.</p>
    ${slots.length ? html`<ul class="slot-choices">${slots.map((s) => {
      const why = closedWhy(s, people);
      return html`<li><button type="button" class="btn secondary slot-choice" data-to="${s.id}" ${why ? 'disabled' : ''}>
        ${formatDate(s.slot_date)} ${formatTime(s.start_time)} · <span data-free>${s.available_spots} free</span>${why ? html` · ${why}` : ''}</button></li>`;
    })}</ul>` : html`<p class="muted">No other departures in these dates.</p>`}
    <p><button type="button" class="btn secondary" data-later>Later dates ›</button></p>
    <p class="error" role="alert" data-err></p></div>`);
  host.querySelector('[data-later]').addEventListener('click', () => movePicker(host, { ...opts, from: addDays(to, 1) }, choose));
  host.querySelectorAll('[data-to]').forEach((b) => b.addEventListener('click', async () => {
    b.disabled = true;
    const res = await choose(slots.find((s) => String(s.id) === b.dataset.to));
    if (res && !res.ok && b.isConnected) { b.disabled = false; say(host.querySelector('[data-err]'), problem(res)); }
  }));
}

// ---- tours ----
// A tour's own cancellation policy and party rules (issue #18), or the
// configuration's: a checkbox each. The policy is a list of tiers (at least
// so many hours before: this refund), the longest notice first.

/** The configuration's policy and rules, as a tour that uses them shows them (else a starting point). */
function defaultRules() {
  const p = tours.find((t) => t.cancellation_policy?.source === 'default')?.cancellation_policy;
  const r = tours.find((t) => t.party_rules?.source === 'default')?.party_rules;
  return {
    policy: p || { tiers: [{ min_hours_before: 72, refund_percent: 100 }, { min_hours_before: 24, refund_percent: 50 }, { min_hours_before: 0, refund_percent: 0 }], fee: 0 },
    party: r || { infants_take_seat: true, max_minors_per_adult: null, max_infants_per_adult: null },
  };
}

/** "100 % back 72 h or more before; 50 % 24 h or more; 0 % after" with the fee. */
function policySummary(p, currency) {
  if (!p?.tiers?.length) return '';
  const tiers = p.tiers.map((t, i) => (t.min_hours_before > 0 ? `${t.refund_percent} % back ${t.min_hours_before} h or more before`
    : `${t.refund_percent} % ${i === 0 ? 'back at any time' : 'after that'}`)).join('; ');
  return `${tiers}${Number(p.fee) > 0 ? `; a ${money(p.fee, currency)} fee is kept` : ''}.`;
}

function partySummary(r) {
  const parts = [r.infants_take_seat === false ? 'infants sit on a lap (no seat)' : 'infants take a seat',
    r.max_minors_per_adult ? `at least one adult for every ${r.max_minors_per_adult} children and infants` : 'no limit of children per adult',
    r.max_infants_per_adult ? `at most ${r.max_infants_per_adult} infant(s) per adult` : 'no limit of infants per adult'];
  return `${parts.join('; ')}.`;
}

/** One tier of the policy being edited: its hours, its refund and a Remove button. */
function tierRow(t, i, n) {
  const p = `cancellation_policy.tiers[${i}]`, id = `tf-tier-${i}`;
  return html`<li class="tier" data-tier="${i}"><div class="row">
    <div><label for="${id}-hours"><span class="sr-only">Tier ${i + 1}: </span>Hours before, at least</label>
      <input id="${id}-hours" name="${p}.min_hours_before" type="number" min="0" max="8784" step="1" value="${t.min_hours_before ?? ''}" class="w-7rem" aria-describedby="${id}-hours-err">
      <p class="field-error" id="${id}-hours-err" data-field-err="${p}.min_hours_before"></p></div>
    <div><label for="${id}-percent"><span class="sr-only">Tier ${i + 1}: </span>Refund %</label>
      <input id="${id}-percent" name="${p}.refund_percent" type="number" min="0" max="100" step="1" value="${t.refund_percent ?? ''}" class="w-7rem" aria-describedby="${id}-percent-err">
      <p class="field-error" id="${id}-percent-err" data-field-err="${p}.refund_percent"></p></div>
    <div><button class="btn secondary" type="button" data-remove-tier="${i}" ${n <= 1 ? 'disabled' : ''}>Remove<span class="sr-only"> tier ${i + 1}</span></button></div></div>
    <p class="field-error" data-field-err="${p}"></p></li>`;
}

function tourForm(t = {}) {
  const defaults = defaultRules();
  const policy = t.cancellation_policy || { source: 'default', ...defaults.policy };
  const party = t.party_rules || { source: 'default', ...defaults.party };
  const ownPolicy = policy.source === 'tour', ownParty = party.source === 'tour';
  const currency = t.currency || 'USD';
  const optional = (v) => (v === null || v === undefined ? '' : v);
  return html`<form class="card" data-tour-form="${t.id || ''}" novalidate><h2>${t.id ? `Edit ${t.name}` : 'New tour'}</h2>
    <div class="row"><div><label>Name<input name="name" value="${t.name || ''}" required></label></div>
    <div><label>Duration (minutes)<input name="duration_minutes" type="number" min="1" value="${t.duration_minutes || 180}"></label></div>
    <div><label>Base price<input name="base_price" type="number" min="0" step="0.01" value="${t.base_price ?? ''}"></label></div>
    <div><label>Currency<input name="currency" value="${currency}" maxlength="3" class="w-6rem"></label></div>
    <div><label>Time zone<input name="timezone" value="${t.timezone || 'Asia/Jerusalem'}"></label></div>
    <div><label><input name="is_active" type="checkbox" ${t.is_active !== false ? 'checked' : ''}> Active (bookable)</label></div></div>
    <label>Description<textarea name="description">${t.description || ''}</textarea></label>
    <fieldset class="rules" data-policy><legend>Cancellation policy</legend>
      <label class="inline-choice"><input type="checkbox" name="policy_default" ${ownPolicy ? '' : 'checked'} aria-controls="tf-policy-own"> Use the default policy</label>
      ${!ownPolicy && t.id ? html`<p class="muted" data-default-summary>The default: ${policySummary(policy, currency)}</p>` : ''}
      <div id="tf-policy-own" data-policy-own ${ownPolicy ? '' : 'hidden'}>
        <p class="muted" id="tf-tiers-help">A cancellation refunds the percentage of the first tier whose hours before the departure it meets.
          List the tiers from the longest notice down; the last one starts at 0 hours.</p>
        <ol class="tiers" data-tiers aria-describedby="tf-tiers-help">${policy.tiers.map((x, i) => tierRow(x, i, policy.tiers.length))}</ol>
        <p class="field-error" data-field-err="cancellation_policy.tiers"></p>
        <p><button class="btn secondary" type="button" data-add-tier>Add tier</button></p>
        <label for="tf-fee">Fee kept from every refund (${currency})</label>
        <input id="tf-fee" name="cancellation_policy.fee" type="number" min="0" step="0.01" value="${Number(policy.fee) > 0 ? policy.fee : ''}" placeholder="0.00" class="w-7rem" aria-describedby="tf-fee-err">
        <p class="field-error" id="tf-fee-err" data-field-err="cancellation_policy.fee"></p></div>
      <p class="field-error" data-field-err="cancellation_policy"></p></fieldset>
    <fieldset class="rules" data-party><legend>Party rules</legend>
      <label class="inline-choice"><input type="checkbox" name="party_default" ${ownParty ? '' : 'checked'} aria-controls="tf-party-own"> Use the default rules</label>
      ${!ownParty && t.id ? html`<p class="muted" data-default-summary>The default: ${partySummary(party)}</p>` : ''}
      <div id="tf-party-own" data-party-own ${ownParty ? '' : 'hidden'}>
        <label class="inline-choice"><input type="checkbox" name="party_rules.infants_take_seat" ${party.infants_take_seat === false ? '' : 'checked'}> Infants take a seat</label>
        <p class="field-error" data-field-err="party_rules.infants_take_seat"></p>
        <div class="row"><div><label for="tf-minors">Children and infants per adult, at most <span class="muted">(empty: no limit)</span></label>
          <input id="tf-minors" name="party_rules.max_minors_per_adult" type="number" min="1" max="100" step="1" value="${optional(party.max_minors_per_adult)}" class="w-7rem" aria-describedby="tf-minors-err">
          <p class="field-error" id="tf-minors-err" data-field-err="party_rules.max_minors_per_adult"></p></div>
        <div><label for="tf-infants">Infants per adult, at most <span class="muted">(empty: no limit)</span></label>
          <input id="tf-infants" name="party_rules.max_infants_per_adult" type="number" min="1" max="100" step="1" value="${optional(party.max_infants_per_adult)}" class="w-7rem" aria-describedby="tf-infants-err">
          <p class="field-error" id="tf-infants-err" data-field-err="party_rules.max_infants_per_adult"></p></div></div></div>
      <p class="field-error" data-field-err="party_rules"></p></fieldset>
    <p><button class="btn" type="submit">${t.id ? 'Save tour' : 'Create tour'}</button></p><p data-err></p></form>`;
}

/** The tiers as typed so far. */
function readTiers(f) {
  const v = (el) => (el.value.trim() === '' ? null : Number(el.value));
  return [...f.querySelectorAll('[data-tiers] li[data-tier]')].map((li) => ({
    min_hours_before: v(li.querySelector('input[name$=".min_hours_before"]')),
    refund_percent: v(li.querySelector('input[name$=".refund_percent"]')),
  }));
}

/** The request body of the tour form. */
function tourBody(f) {
  const el = (n) => f.elements.namedItem(n);
  const optional = (n) => (el(n).value.trim() === '' ? null : Number(el(n).value));
  const body = { name: f.name.value, description: f.description.value, duration_minutes: Number(f.duration_minutes.value),
    base_price: f.base_price.value, currency: f.currency.value, timezone: f.timezone.value, is_active: f.is_active.checked };
  if (el('policy_default').checked) body.cancellation_policy = null;
  else {
    body.cancellation_policy = { tiers: readTiers(f) };
    const fee = el('cancellation_policy.fee').value.trim();
    body.cancellation_policy.fee = fee || '0';
  }
  body.party_rules = el('party_default').checked ? null : {
    infants_take_seat: el('party_rules.infants_take_seat').checked,
    max_minors_per_adult: optional('party_rules.max_minors_per_adult'),
    max_infants_per_adult: optional('party_rules.max_infants_per_adult'),
  };
  return body;
}

/**
 * Shows a 422 under the field it names, else under the nearest enclosing
 * one (`cancellation_policy.tiers[1].refund_percent`, then
 * `cancellation_policy.tiers[1]`, `cancellation_policy.tiers`, ...); false
 * when the form has none of them.
 */
function nearestFieldError(form, field, text) {
  const parent = /^(.*)(\[\d+\]|\.[^.[\]]+)$/;
  for (let f = field; f;) {
    if (fieldError(form, f, text)) return true;
    const m = parent.exec(f);
    f = m ? m[1] : '';
  }
  return false;
}

/** Wires the tour form: the default checkboxes, the tiers' Add and Remove, and saving. */
function wireTourForm(f, saved) {
  const own = (box, part) => {
    const sync = () => {
      f.querySelector(part).hidden = box.checked;
      const summary = box.closest('fieldset').querySelector('[data-default-summary]');
      if (summary) summary.hidden = !box.checked;
    };
    box.addEventListener('change', () => {
      sync();
      if (!box.checked) f.querySelector(`${part} input`)?.focus();
    });
  };
  own(f.elements.namedItem('policy_default'), '[data-policy-own]');
  own(f.elements.namedItem('party_default'), '[data-party-own]');
  const list = f.querySelector('[data-tiers]');
  const draw = (tiers, focus) => {
    setHtml(list, html`${tiers.map((x, i) => tierRow(x, i, tiers.length))}`);
    if (focus) list.querySelector(focus)?.focus();
  };
  f.querySelector('[data-add-tier]').addEventListener('click', () => {
    const tiers = readTiers(f);
    tiers.push({ min_hours_before: 0, refund_percent: 0 });
    draw(tiers, `li[data-tier="${tiers.length - 1}"] input`);
  });
  list.addEventListener('click', (e) => {
    const b = e.target.closest('[data-remove-tier]');
    if (!b) return;
    const i = Number(b.dataset.removeTier), tiers = readTiers(f);
    tiers.splice(i, 1);
    draw(tiers);
    (list.querySelector(`li[data-tier="${Math.min(i, tiers.length - 1)}"] [data-remove-tier]:not(:disabled)`) || f.querySelector('[data-add-tier]')).focus();
  });
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const id = f.dataset.tourForm;
    const r = await api(id ? `/api/calendar/admin/tours/${id}` : '/api/calendar/admin/tours', { method: id ? 'PUT' : 'POST', body: tourBody(f) });
    if (!r.ok) {
      const field = r.data?.field || '';
      const text = problem(r).startsWith(`${field}: `) ? problem(r).slice(field.length + 2) : problem(r);
      if (!(r.status === 422 && field && nearestFieldError(f, field, text))) say(f.querySelector('[data-err]'), problem(r));
      return;
    }
    saved(r.data, id);
  });
}

async function toursView() {
  const view = shell('tours', html`<div id="tour-list"></div>${tourForm()}`);
  const rulesText = (t) => `${t.cancellation_policy?.source === 'tour' ? 'own' : 'default'} policy · ${t.party_rules?.source === 'tour' ? 'own' : 'default'} party rules`;
  const render = () => {
    setHtml(view.querySelector('#tour-list'), tours.length ? html`<div class="table-wrap"><table><thead><tr><th>Tour</th><th>Duration</th><th>Price</th><th>Time zone</th><th>Rules</th><th>Status</th><th><span class="sr-only">Actions</span></th></tr></thead><tbody>
      ${tours.map((t) => html`<tr data-tour="${t.id}"><td>${t.name}</td><td>${t.duration_hours} h</td><td>${money(t.base_price, t.currency)}</td><td>${t.timezone}</td>
      <td data-rules>${rulesText(t)}</td><td>${t.is_active ? 'active' : 'inactive'}</td><td><button class="btn secondary" data-edit="${t.id}">Edit<span class="sr-only"> ${t.name}</span></button></td></tr>`)}</tbody></table></div>` : html`<p class="muted">No tours yet.</p>`);
    view.querySelectorAll('[data-edit]').forEach((b) => b.addEventListener('click', () => {
      const t = tours.find((x) => String(x.id) === b.dataset.edit);
      const form = document.createElement('template');
      setHtml(form, tourForm(t));
      view.querySelector('[data-tour-form]').replaceWith(form.content);
      wireForm();
      view.querySelector('[data-tour-form] input').focus();
    }));
  };
  const wireForm = () => wireTourForm(view.querySelector('[data-tour-form]'), async (tour, id) => {
    await loadTours();
    flash(id ? 'Tour saved.' : `Tour “${tour.name}” created.`);
    toursView();
  });
  render();
  wireForm();
}

// ---- schedules ----
// The booking horizon (BOOKING_ADVANCE_DAYS): no endpoint tells the console, so its default.
const HORIZON_DAYS = 90;
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
/** What a schedule's minimum means for its departures, for the preview. */
function minimumSummary(min, hours) {
  if (!(min > 1)) return html`<p class="muted" id="s-minimum">No minimum: every departure runs however many are booked.</p>`;
  return html`<p id="s-minimum">Each departure needs <strong>${min} people</strong> to go ahead. It is decided <strong>${hours} hours</strong> before it starts:
    short of ${min}, it is cancelled and its customers are refunded in full.</p>`;
}

async function schedulesView() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const tourId = params.get('tour') || tours[0]?.id || '';
  const today = isoDate(new Date());
  const view = shell('schedules', html`<div class="row"><div><label for="s-tour">Tour</label><select id="s-tour">${tourOptions(tourId, 'Choose a tour')}</select></div></div>
    <div id="s-list"></div>
    <form class="card" id="s-form" novalidate><h2>New schedule</h2>
      <div class="row"><div><label>Name<input name="name" value="Morning departures"></label></div>
      <div><label>Start time<input name="start_time" type="time" value="09:00"></label></div>
      <div><label>Duration (minutes)<input name="duration_minutes" type="number" min="1" placeholder="tour's"></label></div>
      <div><label>Recurrence<select name="recurrence"><option value="none">Once</option><option value="daily">Daily</option>
        <option value="weekly" selected>Weekly</option><option value="biweekly">Every two weeks</option><option value="monthly">Monthly</option>
        <option value="custom">Custom (RRULE)</option></select></label></div></div>
      <fieldset><legend>Weekdays</legend>${DAYS.map((d) => html`<label class="inline-choice"><input type="checkbox" name="${d}"> ${d[0].toUpperCase() + d.slice(1)}</label>`)}</fieldset>
      <label>RRULE <span class="muted">(custom only, e.g. FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR)</span><input name="rrule"></label>
      <div class="row"><div><label>Max capacity<input name="max_capacity" type="number" min="1" value="15"></label></div>
      <div><label>Min capacity<input name="min_capacity" type="number" min="0" value="1" aria-describedby="s-min-help"></label></div>
      <div><label>Decide (hours before)<input name="decision_hours" type="number" min="1" max="8760" value="48" aria-describedby="s-min-help"></label></div>
      <div><label>Valid from<input name="valid_from" type="date" value="${today}"></label></div>
      <div><label>Valid until<input name="valid_until" type="date"></label></div>
      <div><label>Price override<input name="price_override" type="number" min="0" step="0.01"></label></div></div>
      <p class="muted" id="s-min-help">With a minimum above 1, each departure is decided that many hours before it starts: still short of its minimum,
        it is cancelled and its customers refunded in full; otherwise it is guaranteed (at once, when the minimum is reached).</p>
      <p><button class="btn secondary" type="submit">Preview departures</button></p><p class="error" role="alert" data-err></p>
      <div id="s-preview"></div></form>`);
  view.querySelector('#s-tour').addEventListener('change', (e) => { location.hash = `schedules?tour=${e.target.value}`; });
  // A new schedule makes its departures up to the booking horizon at once:
  // the form previews them first (a dry run), and "Create schedule"
  // creates exactly the schedule previewed. A change to the form after the
  // preview withdraws it until it is previewed again.
  const form = view.querySelector('#s-form'), out = view.querySelector('#s-preview');
  const body = () => {
    const f = form;
    const b = { tour_id: Number(view.querySelector('#s-tour').value), name: f.name.value, start_time: `${f.start_time.value}:00`,
      recurrence: f.recurrence.value, max_capacity: Number(f.max_capacity.value), min_capacity: Number(f.min_capacity.value),
      decision_hours: Number(f.decision_hours.value), valid_from: f.valid_from.value };
    DAYS.forEach((d) => { b[d] = f[d].checked; });
    if (f.duration_minutes.value) b.duration_minutes = Number(f.duration_minutes.value);
    if (f.rrule.value.trim()) b.rrule = f.rrule.value.trim();
    if (f.valid_until.value) b.valid_until = f.valid_until.value;
    if (f.price_override.value) b.price_override = f.price_override.value;
    return b;
  };
  let previewed = null;
  const stale = () => {
    if (!previewed) return;
    const changed = JSON.stringify(body()) !== JSON.stringify(previewed);
    const confirm = out.querySelector('#s-confirm'), note = out.querySelector('#s-stale');
    if (confirm) confirm.disabled = changed;
    if (note) note.hidden = !changed;
    out.querySelector('#s-summary')?.classList.toggle('superseded', changed);
  };
  form.addEventListener('input', stale);
  form.addEventListener('change', stale);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = form.querySelector('[data-err]');
    err.textContent = '';
    const asked = body();
    if (!asked.tour_id) return say(err, 'Choose a tour first.');
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const p = await api('/api/calendar/admin/schedules?dry_run=true', { method: 'POST', body: asked });
    button.disabled = false;
    if (!p.ok) { previewed = null; setHtml(out, html``); return say(err, problem(p)); }
    previewed = asked;
    const d = p.data.departures || { created: 0, skipped_blackout: 0, slots: [], from: asked.valid_from, until: asked.valid_from };
    const first = d.slots.slice(0, 8);
    setHtml(out, html`<div class="card stacked preview" id="s-previewed">
      <p id="s-summary" tabindex="-1"><strong>This will create ${d.created} departure${d.created === 1 ? '' : 's'}</strong> of ${tourName(asked.tour_id)}
        from ${formatDate(d.from)} to ${formatDate(d.until)}${d.skipped_blackout ? html`; <strong>${d.skipped_blackout}</strong> skipped for blackouts` : ''}.</p>
      ${first.length ? html`<ul class="preview-dates">${first.map((x) => html`<li>${formatDate(x.slot_date)} ${formatTime(x.start_time)}</li>`)}</ul>
        ${d.slots.length > first.length ? html`<p class="muted">and ${d.slots.length - first.length} more, to ${formatDate(d.until)}.</p>` : ''}`
        : html`<p class="muted">No departure falls in these dates: the schedule is kept, and the daily job adds departures as its dates come within the booking horizon.</p>`}
      <p class="muted">Later departures are added day by day as they come within the booking horizon.</p>
      ${minimumSummary(asked.min_capacity, asked.decision_hours)}
      <p class="error" id="s-stale" role="status" hidden>The form has changed since this preview: press “Preview departures” again to see what it creates.</p>
      <p><button class="btn" type="button" id="s-confirm">Create schedule</button></p></div>`);
    out.querySelector('#s-summary').focus();
    out.querySelector('#s-confirm').addEventListener('click', async (ev) => {
      const b2 = ev.currentTarget;
      if (JSON.stringify(body()) !== JSON.stringify(previewed)) return stale();
      b2.disabled = true;
      const r = await api('/api/calendar/admin/schedules', { method: 'POST', body: previewed });
      b2.disabled = false;
      if (!r.ok) return say(err, problem(r));
      const made = r.data.departures;
      flash(`Schedule “${r.data.name}” created${made ? ` with ${made.created} departure${made.created === 1 ? '' : 's'}, ${formatDate(made.from)} to ${formatDate(made.until)}` : ''}.`);
      navigate(`schedules?tour=${previewed.tour_id}&new=${r.data.id}`, `[data-schedule="${Number(r.data.id)}"] h2`);
    });
  });
  // The schedules already there, after the form is wired (it can be used meanwhile).
  const list = view.querySelector('#s-list');
  if (tourId) {
    const r = await api(`/api/calendar/admin/schedules?tour_id=${encodeURIComponent(tourId)}`);
    setHtml(list, r.ok && r.data.length ? html`${r.data.map((s) => html`<article class="card stacked" data-schedule="${s.id}">
      <h2>${s.name} ${s.is_active ? '' : html`<span class="pill">inactive</span>`}</h2>
      <p class="muted">${formatTime(s.start_time)} · ${s.duration_minutes} min · ${s.recurrence}${s.rrule ? ` (${s.rrule})` : ''}
        ${['weekly', 'biweekly'].includes(s.recurrence) ? ' · ' + DAYS.filter((d) => s[d]).map((d) => d.slice(0, 3)).join(', ') : ''}
        · capacity ${s.max_capacity}${s.min_capacity > 1 ? ` · minimum ${s.min_capacity}, decided ${s.decision_hours ?? 48} h before` : ''} · from ${s.valid_from}${s.valid_until ? ` to ${s.valid_until}` : ''}${s.price_override ? ` · ${s.price_override}` : ''}</p>
      ${s.is_active ? html`<form class="row schedule-minimum" data-minimum novalidate>
        <div><label for="sm-min-${s.id}">Min capacity</label><input id="sm-min-${s.id}" name="min_capacity" type="number" min="0" max="${s.max_capacity}" value="${s.min_capacity ?? 1}" class="w-6rem" aria-describedby="sm-min-${s.id}-err"><p class="field-error" id="sm-min-${s.id}-err" data-field-err="min_capacity"></p></div>
        <div><label for="sm-hours-${s.id}">Decide (hours before)</label><input id="sm-hours-${s.id}" name="decision_hours" type="number" min="1" max="8760" value="${s.decision_hours ?? 48}" class="w-7rem" aria-describedby="sm-hours-${s.id}-err"><p class="field-error" id="sm-hours-${s.id}-err" data-field-err="decision_hours"></p></div>
        <div><button class="btn secondary" type="submit">Save minimum<span class="sr-only"> of ${s.name}</span></button></div>
        <p class="error" role="alert" data-err></p></form>` : ''}
      ${s.is_active ? html`<div class="row"><div><label>From<input type="date" data-from value="${today}"></label></div>
        <div><label>To<input type="date" data-to value="${isoDate(addDays(new Date(), HORIZON_DAYS))}"></label></div>
        <div><button class="btn secondary" data-act="preview">Preview dates</button> <button class="btn" data-act="generate">Generate slots</button>
        <button class="btn danger" data-act="deactivate">Deactivate</button></div></div>` : ''}
      <div data-out aria-live="polite"></div></article>`)}` : html`<p class="muted">No schedules for this tour yet.</p>`);
    list.querySelectorAll('form[data-minimum]').forEach((f) => f.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(f);
      const id = f.closest('[data-schedule]').dataset.schedule;
      const r = await api(`/api/calendar/admin/schedules/${id}`, { method: 'PUT',
        body: { min_capacity: Number(f.elements.namedItem('min_capacity').value), decision_hours: Number(f.elements.namedItem('decision_hours').value) } });
      if (!r.ok) return formProblem(f, r);
      flash(`Minimum saved: ${r.data.min_capacity > 1 ? `${r.data.min_capacity} people, decided ${r.data.decision_hours ?? ''} h before each departure` : 'none'}. It applies to the schedule's future departures.`);
      navigate(`schedules?tour=${tourId}`, `[data-schedule="${Number(id)}"] form[data-minimum] input`);
    }));
    list.querySelectorAll('[data-schedule]').forEach((card) => card.querySelectorAll('[data-act]').forEach((b) => b.addEventListener('click', async () => {
      const id = card.dataset.schedule, out = card.querySelector('[data-out]');
      const range = `start_date=${card.querySelector('[data-from]').value}&end_date=${card.querySelector('[data-to]').value}`;
      if (b.dataset.act === 'preview') {
        const r = await api(`/api/calendar/admin/schedules/${id}/preview?${range}`);
        setHtml(out, r.ok ? html`<p>${r.data.length} departure(s):</p><p class="muted">${r.data.map((p) => `${formatDate(p.slot_date)} ${formatTime(p.start_time)}`).join(' · ') || 'none'}</p>` : html`<p class="error">${problem(r)}</p>`);
      } else if (b.dataset.act === 'generate') {
        const r = await api(`/api/calendar/admin/schedules/${id}/generate-slots?${range}`, { method: 'POST' });
        setHtml(out, r.ok ? html`<p class="ok">Created ${r.data.created} slot(s); ${r.data.skipped_existing} already existed; ${r.data.skipped_blackout} skipped for blackouts.</p>` : html`<p class="error">${problem(r)}</p>`);
      } else if (confirm('Deactivate this schedule? Its future slots without bookings are cancelled.')) {
        const r = await api(`/api/calendar/admin/schedules/${id}`, { method: 'DELETE' });
        r.ok ? (flash(`Schedule deactivated; ${r.data.cancelled_slots} empty future slot(s) cancelled.`), schedulesView()) : flash(problem(r), false);
      }
    })));
  }
}

// ---- blackouts ----
async function blackoutsView() {
  const view = shell('blackouts', html`<div id="b-list"></div>
    <form class="card" id="b-form" novalidate><h2>New blackout</h2>
      <div class="row"><div><label>Tour<select name="tour_id">${tourOptions('', 'Every tour')}</select></label></div>
      <div><label>From<input name="start_date" type="date" required></label></div><div><label>To<input name="end_date" type="date" required></label></div>
      <div><label>Type<select name="blackout_type"><option>holiday</option><option>maintenance</option><option>weather</option><option>custom</option></select></label></div>
      <div><label>Name<input name="name" required></label></div></div>
      <label>Description<input name="description"></label>
      <p><button class="btn secondary" type="submit">Check conflicts</button></p><div id="b-preview" aria-live="polite"></div></form>`);
  const r = await api('/api/calendar/admin/blackouts');
  setHtml(view.querySelector('#b-list'), r.ok && r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>Dates</th><th>Tour</th><th>Type</th><th><span class="sr-only">Actions</span></th></tr></thead><tbody>
    ${r.data.map((b) => html`<tr><td>${b.name}</td><td>${formatDate(b.start_date)} – ${formatDate(b.end_date)}</td><td>${b.tour_id ? tourName(b.tour_id) : 'every tour'}</td>
    <td>${b.blackout_type}</td><td><button class="btn secondary" data-remove="${b.id}">Remove</button></td></tr>`)}</tbody></table></div>` : html`<p class="muted">No active blackouts.</p>`);
  view.querySelectorAll('[data-remove]').forEach((b) => b.addEventListener('click', async () => {
    const res = await api(`/api/calendar/admin/blackouts/${b.dataset.remove}`, { method: 'DELETE' });
    res.ok ? (flash(`Blackout removed; ${res.data.reopened_slots} slot(s) reopened.`), blackoutsView()) : flash(problem(res), false);
  }));
  const form = view.querySelector('#b-form');
  const body = () => ({ tour_id: form.tour_id.value ? Number(form.tour_id.value) : null, start_date: form.start_date.value, end_date: form.end_date.value,
    blackout_type: form.blackout_type.value, name: form.name.value, description: form.description.value });
  // "Create blackout" creates exactly the blackout previewed (the body is
  // kept from the preview); editing the form afterwards says so and asks
  // for a new check.
  let previewed = null;
  const stale = () => {
    const note = view.querySelector('#b-stale');
    if (previewed && note) note.hidden = JSON.stringify(body()) === JSON.stringify(previewed);
  };
  form.addEventListener('input', stale);
  form.addEventListener('change', stale);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = view.querySelector('#b-preview');
    const asked = body();
    const p = await api('/api/calendar/admin/blackouts?dry_run=true', { method: 'POST', body: asked });
    if (!p.ok) { previewed = null; setHtml(out, html`<p class="error" role="alert">${problem(p)}</p>`); return; }
    previewed = asked;
    setHtml(out, html`<p id="b-previewed">Preview of “${asked.name}”, ${asked.tour_id ? tourName(asked.tour_id) : 'every tour'},
      ${formatDate(asked.start_date)} – ${formatDate(asked.end_date)}:</p>
      <p>This cancels <strong>${p.data.cancelled_slots}</strong> empty departure(s).</p>
      ${p.data.conflicts.length ? html`<p class="error">${p.data.conflicts.length} departure(s) hold bookings and stay open for you to decide:</p>
      <ul>${p.data.conflicts.map((c) => html`<li>${formatDate(c.slot_date)} ${formatTime(c.start_time)} · ${tourName(c.tour_id)} · ${c.current_bookings} booked <a href="#manifest/${c.slot_id}">manifest</a></li>`)}</ul>` : html`<p>No booked departures are affected.</p>`}
      <p class="error" id="b-stale" role="status" hidden>The form has changed since this preview. “Create blackout” creates the blackout previewed above;
        press “Check conflicts” to preview your changes.</p>
      <button class="btn" type="button" id="b-confirm">Create blackout</button>`);
    out.querySelector('#b-confirm').addEventListener('click', async () => {
      const c = await api('/api/calendar/admin/blackouts', { method: 'POST', body: asked });
      c.ok ? (flash(`Blackout created; ${c.data.cancelled_slots} slot(s) cancelled.`), blackoutsView()) : setHtml(out, html`<p class="error">${problem(c)}</p>`);
    });
  });
}

// ---- bookings ----
const STATUSES = ['pending', 'confirmed', 'cancelled', 'completed', 'no_show', 'refunded'];
const FILTERS = ['tour_id', 'status_filter', 'start_date', 'end_date', 'q'];

/** Saves `text` as a file named `name`. */
function saveFile(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.appendChild(a); a.click(); a.remove(); URL.revokeObjectURL(url);
}

async function bookingsView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const limit = 20, offset = Number(p.get('offset') || 0);
  const view = shell('bookings', html`<form class="row no-print" id="f" role="search">
      <div><label for="f-q">Search</label><input id="f-q" type="search" name="q" value="${p.get('q') || ''}" maxlength="100"
        placeholder="Reference, name, email or phone" class="w-16rem"></div>
      <div><label>Tour<select name="tour_id">${tourOptions(p.get('tour_id') || '')}</select></label></div>
      <div><label>Status<select name="status_filter"><option value="">Any</option>${STATUSES.map((s) => html`<option ${p.get('status_filter') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
      <div><label>Tour date from<input type="date" name="start_date" value="${p.get('start_date') || ''}"></label></div>
      <div><label>to<input type="date" name="end_date" value="${p.get('end_date') || ''}"></label></div>
      <div><button class="btn" type="submit">Filter</button></div>
      <div><button class="btn secondary" type="button" id="export">Export CSV</button></div></form>
      <div id="list"><p class="skeleton"></p></div>`);
  const form = view.querySelector('#f');
  const filters = () => new URLSearchParams([...new FormData(form)].filter(([k, v]) => FILTERS.includes(k) && String(v).trim()));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    navigate(`bookings?${filters()}`, '#count');
  });
  view.querySelector('#export').addEventListener('click', async (e) => {
    e.target.disabled = true;
    const res = await api(`/api/calendar/admin/bookings.csv?${filters()}`, { accept: 'text/csv' });
    e.target.disabled = false;
    if (!res.ok) return flash(problem(res), false);
    saveFile(`bookings-${isoDate(new Date())}.csv`, res.data);
    flash('Exported the bookings that match the filters.');
  });
  const q = new URLSearchParams([...p].filter(([k]) => FILTERS.includes(k)));
  q.set('limit', limit); q.set('offset', offset);
  const r = await api(`/api/calendar/admin/bookings?${q}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  const page = (o) => { const n = new URLSearchParams(p); n.set('offset', o); return `#bookings?${n}`; };
  const rows = r.data.bookings;
  setHtml(list, html`<div class="row account-bar no-print"><p class="muted" id="count" tabindex="-1">${r.data.total} booking(s)${p.get('q') ? html` matching “${p.get('q')}”` : ''}</p>
    ${rows.length ? html`<p class="actions"><span class="muted" id="picked" aria-live="polite">None selected</span>
      <button class="btn" type="button" id="bulk-confirm" disabled>Confirm selected</button></p>` : ''}</div>
    ${rows.length ? html`<div class="table-wrap"><table id="booking-list"><thead><tr>
      <th scope="col"><input type="checkbox" id="pick-all" aria-label="Select every booking on this page"></th>
      <th scope="col">Reference</th><th scope="col">Customer</th><th scope="col">Tour</th><th scope="col">When</th><th scope="col">People</th><th scope="col">Total</th><th scope="col">Status</th></tr></thead><tbody>
    ${rows.map((b) => html`<tr data-booking="${b.id}"><td><input type="checkbox" data-pick value="${b.id}" aria-label="Select ${b.booking_reference}"></td>
    <td><a href="#booking/${b.id}">${b.booking_reference}</a></td><td>${b.customer_name}<br><span class="muted">${b.customer_email}${b.customer_phone ? html` · ${b.customer_phone}` : ''}</span></td>
    <td>${b.tour_name}</td><td>${formatDate(b.tour_date)} ${formatTime(b.tour_time)}</td><td>${b.total_people}</td><td>${money(b.total_amount, b.currency)}</td>
    <td><span class="pill ${b.status}">${b.status}</span></td></tr>`)}</tbody></table></div>` : html`<p class="muted">No bookings match.</p>`}
    <p>${offset > 0 ? html`<a class="btn secondary" href="${page(Math.max(0, offset - limit))}">‹ Newer</a>` : ''}
    ${offset + limit < r.data.total ? html`<a class="btn secondary" href="${page(offset + limit)}">Older ›</a>` : ''}</p>`);
  if (!rows.length) return;
  const boxes = [...list.querySelectorAll('[data-pick]')], all = list.querySelector('#pick-all'), bulk = list.querySelector('#bulk-confirm');
  const sync = () => {
    const n = boxes.filter((b) => b.checked).length;
    list.querySelector('#picked').textContent = n ? `${n} selected` : 'None selected';
    bulk.disabled = !n;
    all.checked = n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  };
  boxes.forEach((b) => b.addEventListener('change', sync));
  all.addEventListener('change', () => { boxes.forEach((b) => { b.checked = all.checked; }); sync(); });
  bulk.addEventListener('click', async () => {
    const ids = boxes.filter((b) => b.checked).map((b) => Number(b.value));
    bulk.disabled = true;
    const res = await api('/api/calendar/admin/bookings/bulk-status', { method: 'POST', body: { ids, status: 'confirmed' } });
    if (!res.ok) { bulk.disabled = false; return flash(problem(res), false); }
    const ref = (id) => rows.find((b) => b.id === id)?.booking_reference || `#${id}`;
    const failed = res.data.results.filter((x) => !x.ok);
    flash(`Confirmed ${res.data.succeeded} booking(s).${failed.length ? ` Not changed: ${failed.map((x) => `${ref(x.id)} (${x.detail})`).join('; ')}.` : ''}`, !failed.length);
    bookingsView();
  });
}

// ---- a booking: details, changes, history ----
const KIND_LABELS = {
  created: 'Booked', party_change: 'Party changed', date_change: 'Moved to another departure', date_and_party_change: 'Moved, party changed',
  contact_change: 'Contact details changed', cancellation: 'Cancelled', status_change: 'Status changed', check_in: 'Checked in',
  check_in_undone: 'Check-in undone', rebooked: 'Rebooked on another departure', departure_guaranteed: 'Departure guaranteed', decision_deadline_moved: 'Decision deadline moved',
};
const FIELD_LABELS = {
  tour_date: 'Date', tour_time: 'Time', num_adults: 'Adults', num_children: 'Children', num_infants: 'Infants', total_people: 'People',
  total_amount: 'Total', refund_amount: 'Refund', status: 'Status', customer_name: 'Name', customer_email: 'Email', customer_phone: 'Phone',
  special_requirements: 'Special requirements', dietary_restrictions: 'Dietary restrictions', accessibility_needs: 'Accessibility needs',
  checked_in: 'Checked in', booking_reference: 'Reference',
};
/** Minor units (as the audit trail keeps amounts) to a money text. */
function minorMoney(minor, currency) {
  let digits = 2;
  try { digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits; } catch { /* unknown currency */ }
  return money(Number(minor) / 10 ** digits, currency);
}
function fieldValue(field, v, currency) {
  if (v === null || v === undefined || v === '') return '(none)';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (field === 'tour_date') return formatDate(v);
  if (field === 'tour_time') return formatTime(v);
  if (field === 'total_amount' || field === 'refund_amount') return minorMoney(v, currency);
  if (field === 'status') return String(v).replace('_', ' ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
const actorName = (e) => e.actor_name || (e.actor === 'guest' ? 'The customer (guest)' : e.actor === 'system' ? 'Tourdesk (automatic)' : e.actor);

/** One history row's change, in words. */
function historyChange(e, currency) {
  const nv = e.new_value || {};
  if (e.modification_type === 'created') {
    return html`${party(nv) || `${nv.total_people} people`} on ${fieldValue('tour_date', nv.tour_date)} ${fieldValue('tour_time', nv.tour_time)}, ${fieldValue('total_amount', nv.total_amount, currency)}`;
  }
  if (e.modification_type === 'departure_guaranteed') {
    const by = GUARANTEED_BY[nv.guaranteed_by] || nv.guaranteed_by || 'guaranteed';
    const count = nv.booked !== undefined && nv.min_capacity !== undefined ? `: ${nv.booked} booked of a minimum of ${nv.min_capacity}` : '';
    return html`<span data-guaranteed-by="${nv.guaranteed_by || ''}">Guaranteed to run (${by})${count}</span>`;
  }
  if (e.modification_type === 'decision_deadline_moved') {
    const when = (v) => (v ? new Date(v).toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : 'none');
    return html`Decision deadline: ${when((e.old_value || {}).decision_at)} → <strong>${when(nv.decision_at)}</strong>`;
  }
  if (e.modification_type === 'rebooked') {
    return html`New booking ${nv.booking_reference} on ${fieldValue('tour_date', nv.tour_date)} ${fieldValue('tour_time', nv.tour_time)}`;
  }
  const shown = (e.changes || []).filter((c) => FIELD_LABELS[c.field] && c.field !== 'refund_amount');
  const refunds = refundLines(nv, currency);
  if (!shown.length && !refunds.length) return html`<span class="muted">no field changed</span>`;
  return html`<ul class="changes">${shown.map((c) => html`<li><span class="change-field">${FIELD_LABELS[c.field]}:</span> ${fieldValue(c.field, c.from, currency)} → <strong>${fieldValue(c.field, c.to, currency)}</strong></li>`)}${refunds}</ul>`;
}

/** How a refund was worked out (issue #18): the policy's tier, an admin's override, or in full. */
function refundLines(nv, currency) {
  const out = [];
  const r = nv.refund;
  if (r) {
    const amount = minorMoney(r.refund_amount, currency);
    const why = r.rule === 'policy' ? `policy: ${r.refund_percent} % (${r.tier_min_hours_before} h or more before)${r.fee ? `, less a ${minorMoney(r.fee, currency)} fee` : ''}`
      : r.rule === 'admin_override' ? `set by the operator (the policy gave ${minorMoney(r.policy_refund_amount, currency)}): ${r.override_reason}`
      : r.rule === 'departure_cancelled' ? 'in full: the departure was cancelled'
      : r.rule === 'minimum_not_reached' ? 'in full: the departure did not reach its minimum' : r.rule;
    out.push(html`<li><span class="change-field">Refund:</span> <strong>${amount}</strong> <span class="muted">(${why})</span></li>`);
  }
  const d = nv.reduction_refund;
  if (d) {
    out.push(html`<li><span class="change-field">Refund for people removed:</span> <strong>${minorMoney(d.refund_amount, currency)}</strong> <span class="muted">(${d.refund_percent} % of ${minorMoney(d.removed_amount, currency)})</span></li>`);
  }
  return out;
}

function contactForm(x) {
  const field = (name, label, value, type = 'text', extra = '') => html`<label for="ct-${name}">${label}</label>
    <input id="ct-${name}" name="${name}" type="${type}" value="${value || ''}" ${raw(extra)} aria-describedby="ct-${name}-err">
    <p class="field-error" id="ct-${name}-err" data-field-err="${name}"></p>`;
  return html`<form class="card stacked" id="contact-form" novalidate hidden aria-labelledby="ct-title"><h2 id="ct-title">Contact details</h2>
    ${field('customer_name', 'Name', x.customer_name, 'text', 'autocomplete="off" required')}
    ${field('customer_email', 'Email', x.customer_email, 'email', 'autocomplete="off" required')}
    ${field('customer_phone', 'Phone', x.customer_phone, 'tel', 'autocomplete="off"')}
    ${field('special_requirements', 'Special requirements', x.special_requirements)}
    ${field('dietary_restrictions', 'Dietary restrictions', x.dietary_restrictions)}
    ${field('accessibility_needs', 'Accessibility needs', x.accessibility_needs)}
    <p class="actions"><button class="btn" type="submit">Save contact details</button><button class="btn secondary" type="button" data-cancel>Cancel</button></p>
    <p class="error" role="alert" data-err></p></form>`;
}

function partyForm(x) {
  const n = (name, label, value, min) => html`<div><label for="pt-${name}">${label}</label>
    <input id="pt-${name}" name="${name}" type="number" min="${min}" value="${value}" class="w-6rem" aria-describedby="pt-${name}-err">
    <p class="field-error" id="pt-${name}-err" data-field-err="${name}"></p></div>`;
  return html`<form class="card stacked" id="party-form" novalidate hidden aria-labelledby="pt-title"><h2 id="pt-title">Party</h2>
    <div class="row">${n('new_num_adults', 'Adults', x.num_adults, 1)}${n('new_num_children', 'Children', x.num_children, 0)}${n('new_num_infants', 'Infants', x.num_infants, 0)}</div>
    <p class="muted">The price follows the party at the booked price per person; a larger party needs free places on the departure.</p>
    <p class="actions"><button class="btn" type="submit">Save party</button><button class="btn secondary" type="button" data-cancel>Cancel</button></p>
    <p class="error" role="alert" data-err></p></form>`;
}

/** Shows a form's 422 under its field, anything else under the form. */
function formProblem(form, r) {
  if (!(r.status === 422 && r.data?.field && fieldError(form, r.data.field, problem(r)))) say(form.querySelector('[data-err]'), problem(r));
}

async function bookingDetail(id) {
  const view = shell('bookings', html`<p class="skeleton"></p>`);
  const [b, hist] = await Promise.all([api(`/api/calendar/bookings/${encodeURIComponent(id)}`), api(`/api/calendar/admin/bookings/${encodeURIComponent(id)}/history`)]);
  if (!b.ok) return say(view, problem(b));
  const x = b.data, next = TRANSITIONS[x.status] || [];
  const changeable = x.status === 'pending' || x.status === 'confirmed';
  setHtml(view, html`<p class="no-print"><a href="#bookings">← Bookings</a></p><h1>${x.booking_reference} <span class="pill ${x.status}">${x.status}</span></h1>
    <div class="card stacked" id="booking-card"><p><strong id="b-name">${x.customer_name}</strong> · <a href="mailto:${x.customer_email}">${x.customer_email}</a>${x.customer_phone ? html` · <a href="tel:${x.customer_phone}">${x.customer_phone}</a>` : ''}</p>
    <p id="b-when">${x.tour_name} · ${formatDate(x.tour_date)} ${formatTime(x.tour_time)} · <span id="b-party">${party(x)}</span></p>
    <p>Subtotal ${money(x.subtotal, x.currency)} · tax ${money(x.tax_amount, x.currency)} · <strong>total ${money(x.total_amount, x.currency)}</strong>${x.refund_amount ? ` · refunded ${money(x.refund_amount, x.currency)}` : ''}</p>
    ${[x.special_requirements, x.dietary_restrictions, x.accessibility_needs].filter(Boolean).map((t) => html`<p class="muted">${t}</p>`)}
    <div class="row no-print">${changeable ? html`<button class="btn secondary" type="button" id="edit-contact" aria-controls="contact-form" aria-expanded="false">Edit contact</button>
      <button class="btn secondary" type="button" id="edit-party" aria-controls="party-form" aria-expanded="false">Change party</button>
      <button class="btn secondary" type="button" id="move" aria-controls="move-picker" aria-expanded="false">Move to another departure</button>` : ''}
      ${x.status === 'cancelled' ? html`<button class="btn secondary" type="button" id="move" aria-controls="move-picker" aria-expanded="false">Rebook on another departure</button>` : ''}
      ${next.map((s) => html`<button class="btn ${s === 'cancelled' ? 'danger' : 'secondary'}" data-status="${s}">Mark ${s.replace('_', ' ')}</button>`)}</div>
    <div id="move-picker"></div></div>
    ${changeable ? html`${contactForm(x)}${partyForm(x)}` : ''}
    <h2>History</h2><div class="table-wrap"><table id="history"><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Change</th><th scope="col">Reason</th></tr></thead><tbody>
    ${(hist.ok ? hist.data : []).map((e) => html`<tr data-kind="${e.modification_type}"><td>${new Date(e.created_at).toLocaleString()}</td>
      <td>${actorName(e)}${e.ip_address ? html`<br><span class="muted">${e.ip_address}</span>` : ''}</td><td>${KIND_LABELS[e.modification_type] || e.modification_type}</td>
      <td>${historyChange(e, x.currency)}</td><td>${e.reason || ''}</td></tr>`)}</tbody></table></div>`);
  view.querySelectorAll('[data-status]').forEach((btn) => btn.addEventListener('click', async () => {
    const reason = btn.dataset.status === 'cancelled' ? prompt('Reason for cancelling?') ?? '' : '';
    const r = await api(`/api/calendar/admin/bookings/${id}/status`, { method: 'POST', body: { status: btn.dataset.status, reason: reason || null } });
    r.ok ? (flash(`Booking ${btn.dataset.status}.`), bookingDetail(id)) : flash(problem(r), false);
  }));
  // Edit forms: one open at a time, opened by its button.
  const toggles = [['#edit-contact', '#contact-form'], ['#edit-party', '#party-form']];
  toggles.forEach(([b, f]) => view.querySelector(b)?.addEventListener('click', () => {
    const form = view.querySelector(f), open = form.hidden;
    toggles.forEach(([ob, of]) => { view.querySelector(of).hidden = true; view.querySelector(ob).setAttribute('aria-expanded', 'false'); });
    form.hidden = !open;
    view.querySelector(b).setAttribute('aria-expanded', String(open));
    if (open) form.querySelector('input').focus();
  }));
  view.querySelectorAll('form [data-cancel]').forEach((c) => c.addEventListener('click', () => { c.closest('form').hidden = true; }));
  view.querySelector('#contact-form')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    clearErrors(f);
    const val = (n) => f.elements.namedItem(n).value.trim();
    const body = Object.fromEntries(['customer_name', 'customer_email', 'customer_phone', 'special_requirements', 'dietary_restrictions', 'accessibility_needs']
      .map((n) => [n, val(n) || (n === 'customer_name' || n === 'customer_email' ? '' : null)]));
    const r = await api(`/api/calendar/admin/bookings/${id}/contact`, { method: 'PUT', body });
    if (!r.ok) return formProblem(f, r);
    flash('Contact details saved.');
    bookingDetail(id);
  });
  view.querySelector('#party-form')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    clearErrors(f);
    const num = (n) => Number(f.elements.namedItem(n).value);
    const r = await api(`/api/calendar/bookings/${id}`, { method: 'PUT', body: { new_num_adults: num('new_num_adults'), new_num_children: num('new_num_children'), new_num_infants: num('new_num_infants') } });
    if (!r.ok) return formProblem(f, r);
    flash(`Party changed; the total is now ${money(r.data.booking.total_amount, r.data.booking.currency)}.`);
    bookingDetail(id);
  });
  const move = view.querySelector('#move');
  move?.addEventListener('click', () => {
    const host = view.querySelector('#move-picker'), open = move.getAttribute('aria-expanded') !== 'true';
    move.setAttribute('aria-expanded', String(open));
    if (!open) { setHtml(host, html``); return; }
    movePicker(host, { tourId: x.tour_id, people: x.total_people, currentSlotId: changeable ? x.booking_slot_id : undefined }, async (to) => {
      const r = changeable
        ? await api(`/api/calendar/bookings/${id}`, { method: 'PUT', body: { new_slot_id: to.id } })
        : await api(`/api/calendar/admin/bookings/${id}/rebook`, { method: 'POST', body: { booking_slot_id: to.id } });
      if (!r.ok) return r;
      const moved = changeable ? r.data.booking : r.data;
      flash(changeable ? `Moved to ${formatDate(moved.tour_date)} ${formatTime(moved.tour_time)}; the customer is emailed the change.`
        : `Rebooked as ${moved.booking_reference} on ${formatDate(moved.tour_date)} ${formatTime(moved.tour_time)}.`);
      location.hash = `booking/${moved.id}`;
      if (changeable) bookingDetail(id);
      return r;
    });
  });
}

// ---- manifest: who is coming, check-in, closing the departure ----
const checkInLabel = (b) => (b.checked_in_at ? html`<span aria-hidden="true">✓ </span>Checked in` : 'Check in');

async function manifestView(id) {
  const view = shell('slots', html`<p class="skeleton"></p>`);
  const r = await api(`/api/calendar/admin/slots/${encodeURIComponent(id)}/manifest`);
  if (!r.ok) return say(view, problem(r));
  const m = r.data, s = m.slot;
  const started = Date.parse(s.starts_at) <= Date.now();
  const open = m.bookings.filter((b) => b.status === 'pending' || b.status === 'confirmed');
  setHtml(view, html`<h1>Manifest · ${m.tour_name}</h1><p>${formatDate(s.slot_date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })},
    ${formatTime(s.start_time)}–${formatTime(s.end_time)} · <strong>${m.total_people}</strong> of ${s.max_capacity} people</p>
    ${s.is_cancelled ? html`<p class="error" role="status">This departure was cancelled${s.cancellation_reason ? `: ${reasonText(s.cancellation_reason)}` : ''}.</p>` : ''}
    ${m.bookings.length ? html`<p id="checked-count" aria-live="polite"></p>` : ''}
    <p class="no-print actions"><button class="btn secondary" id="print">Print</button> <button class="btn secondary" id="csv">Download CSV</button>
    ${!s.is_cancelled && open.length ? html`<button class="btn" id="close-departure" aria-describedby="close-note">Close departure</button>` : ''}</p>
    ${!s.is_cancelled && open.length ? html`<p class="muted no-print" id="close-note">${started ? '' : 'Once the departure has started, '}“Close departure” marks the checked-in bookings completed and the confirmed ones not checked in no-show.</p>` : ''}
    ${m.bookings.length ? html`<div class="table-wrap"><table class="manifest stack-on-phone" id="manifest"><thead><tr><th scope="col">Name</th><th scope="col">Party</th><th scope="col">Contact</th><th scope="col">Requirements</th><th scope="col">Status</th><th scope="col">Check-in</th></tr></thead><tbody>
    ${m.bookings.map((b) => html`<tr data-booking="${b.booking_id}" class="${b.checked_in_at ? 'checked-in' : ''}">
      <td data-label="Name"><strong>${b.customer_name}</strong><br><a class="muted" href="#booking/${b.booking_id}">${b.booking_reference}</a></td>
      <td data-label="Party"><strong>${b.total_people}</strong> <span class="muted">(${party(b)})</span></td>
      <td data-label="Contact">${b.customer_phone ? html`<a href="tel:${b.customer_phone}">${b.customer_phone}</a><br>` : ''}<span class="break-all">${b.customer_email}</span></td>
      <td data-label="Needs">${join([b.special_requirements, b.dietary_restrictions, b.accessibility_needs].filter(Boolean), html`<br>`)}</td>
      <td data-label="Status"><span class="pill ${b.status}">${b.status.replace('_', ' ')}</span></td>
      <td data-label="Check-in">${b.status === 'pending' || b.status === 'confirmed'
        ? html`<button class="btn checkin" type="button" data-checkin aria-pressed="${b.checked_in_at ? 'true' : 'false'}">${checkInLabel(b)}<span class="sr-only"> ${b.customer_name}</span></button>`
        : html`<span class="muted">${b.checked_in_at ? 'came' : ''}</span>`}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">Nobody is booked on this departure.</p>`}
    ${m.cancelled_bookings.length ? html`<section class="stacked" aria-labelledby="cancelled-title"><h2 id="cancelled-title">Cancelled bookings</h2>
      <p class="muted">They were emailed the cancellation. “Rebook…” makes a new booking for the same party on another departure and emails its confirmation.</p>
      ${affectedTable(m.cancelled_bookings, s.tour_id)}</section>` : ''}`);
  const count = () => {
    const el = view.querySelector('#checked-count');
    if (!el) return;
    const inn = m.bookings.filter((b) => b.checked_in_at);
    el.textContent = `${inn.reduce((n, b) => n + b.total_people, 0)} of ${m.total_people} people checked in (${inn.length} of ${m.bookings.length} bookings).`;
  };
  count();
  wireRebook(view);
  view.querySelectorAll('[data-checkin]').forEach((btn) => btn.addEventListener('click', async () => {
    const row = btn.closest('tr'), b = m.bookings.find((x) => String(x.booking_id) === row.dataset.booking);
    btn.disabled = true;
    const res = await api(`/api/calendar/admin/bookings/${b.booking_id}/check-in`, { method: b.checked_in_at ? 'DELETE' : 'POST' });
    btn.disabled = false;
    if (!res.ok) return flash(problem(res), false);
    b.checked_in_at = res.data.checked_in_at;
    btn.setAttribute('aria-pressed', String(res.data.checked_in));
    setHtml(btn, html`${checkInLabel(b)}<span class="sr-only"> ${b.customer_name}</span>`);
    row.classList.toggle('checked-in', res.data.checked_in);
    count();
  }));
  view.querySelector('#print').addEventListener('click', () => print());
  view.querySelector('#csv').addEventListener('click', async () => {
    const res = await api(`/api/calendar/admin/slots/${encodeURIComponent(id)}/manifest`, { accept: 'text/csv' });
    if (!res.ok) return flash(problem(res), false);
    saveFile(`manifest-${s.slot_date}-${id}.csv`, res.data);
  });
  view.querySelector('#close-departure')?.addEventListener('click', async (e) => {
    const inn = open.filter((b) => b.checked_in_at).length;
    const ok = await confirmDialog('Close this departure?',
      `${inn} checked-in booking(s) become completed; ${open.filter((b) => !b.checked_in_at && b.status === 'confirmed').length} confirmed booking(s) not checked in become no-show. Pending bookings not checked in stay as they are.`,
      'Close departure', e.target);
    if (!ok) return;
    const res = await api(`/api/calendar/admin/slots/${encodeURIComponent(id)}/close`, { method: 'POST' });
    if (!res.ok) return flash(problem(res), false);
    flash(`Departure closed: ${res.data.completed} completed, ${res.data.no_show} no-show${res.data.left_pending ? `, ${res.data.left_pending} pending left as they are` : ''}.`);
    manifestView(id);
  });
}

// ---- waitlist and notifications ----
async function waitlistView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const view = shell('waitlist', html`<form class="row" id="f"><div><label>Tour<select name="tour_id">${tourOptions(p.get('tour_id') || '')}</select></label></div>
    <div><label>Date<input type="date" name="date" value="${p.get('date') || ''}"></label></div>
    <div><label>Status<select name="status"><option value="">Any</option>${['active', 'notified', 'converted', 'expired', 'cancelled'].map((s) => html`<option ${p.get('status') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
    <div><button class="btn" type="submit">Filter</button></div></form><div id="list"></div>`);
  // After filtering, the focus goes to how many entries the filter found.
  view.querySelector('#f').addEventListener('submit', (e) => { e.preventDefault(); navigate(`waitlist?${new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v))}`, '#wl-count'); });
  const r = await api(`/api/calendar/admin/waitlist?${p}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  const filtered = [...p.keys()].length > 0;
  setHtml(list, html`<p id="wl-count" class="muted" tabindex="-1">${r.data.length} waitlist entr${r.data.length === 1 ? 'y' : 'ies'}${filtered ? (r.data.length === 1 ? ' matches the filter' : ' match the filter') : ''}.</p>
    ${r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>Date</th><th>Tour</th><th>Customer</th><th>People</th><th>Status</th><th>Priority</th></tr></thead><tbody>
    ${r.data.map((e) => html`<tr data-entry="${e.id}"><td>${formatDate(e.requested_date)}</td><td>${tourName(e.tour_id)}</td><td>${e.customer_name}<br><span class="muted">${e.customer_email}</span></td>
    <td>${e.num_people}</td><td><span class="pill ${e.status}">${e.status}</span>${e.notification_expires_at && e.status === 'notified' ? html`<br><span class="muted">until ${new Date(e.notification_expires_at).toLocaleString()}</span>` : ''}</td>
    <td><input type="number" value="${e.priority}" class="w-5rem" aria-label="Priority"> <button class="btn secondary" data-prio>Set</button></td></tr>`)}</tbody></table></div>` : html`<p class="muted">Nobody is waiting.</p>`}`);
  list.querySelectorAll('[data-prio]').forEach((b) => b.addEventListener('click', async () => {
    const row = b.closest('tr');
    const res = await api(`/api/calendar/admin/waitlist/${row.dataset.entry}`, { method: 'PATCH', body: { priority: Number(row.querySelector('input').value) } });
    res.ok ? flash('Priority saved.') : flash(problem(res), false);
  }));
}

async function notificationsView() {
  const view = shell('notifications', html`<p class="skeleton"></p>`);
  const r = await api('/api/calendar/admin/notifications?limit=200');
  if (!r.ok) return say(view, problem(r));
  setHtml(view, r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>When</th><th>Type</th><th>Tour</th><th>Details</th><th>Delivered</th></tr></thead><tbody>
    ${r.data.map((n) => html`<tr><td>${new Date(n.created_at).toLocaleString()}</td><td>${eventLabel(n.type)}</td><td>${tourName(n.tour_id)}</td>
    <td>${eventDetails(n.payload || {})}</td><td>${n.delivered_at ? 'yes' : 'queued'}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">No notifications yet.</p>`);
}

const EVENT_LABELS = {
  'booking.created': 'Booking made', 'booking.modified': 'Booking changed', 'booking.cancelled': 'Booking cancelled',
  'booking.status_changed': 'Booking status changed', 'booking.reminder': 'Reminder sent', 'departure.cancelled': 'Departure cancelled',
  'departure.guaranteed': 'Departure guaranteed', 'booking.guaranteed': 'Customer told: departure guaranteed',
  'waitlist.joined': 'Joined the waitlist', 'waitlist.notified': 'Waitlist offer', 'waitlist.expired': 'Waitlist offer expired',
  'waitlist.cancelled': 'Left the waitlist', 'waitlist.converted': 'Waitlist offer booked', 'waitlist.requeued': 'Back on the waitlist',
};
const eventLabel = (type) => EVENT_LABELS[type] || type;

/** An outbox event's payload in words: the booking, its departure, and what it was before. */
function eventDetails(p) {
  const when = (x) => [x.tour_date || x.slot_date || x.requested_date ? formatDate(x.tour_date || x.slot_date || x.requested_date) : '',
    x.tour_time || x.start_time ? formatTime(x.tour_time || x.start_time) : ''].filter(Boolean).join(' ');
  const people = (x) => (x.total_people ?? x.num_people) !== undefined ? `${x.total_people ?? x.num_people} people` : '';
  const parts = [
    p.booking_id !== undefined ? html`<a href="#booking/${p.booking_id}">${p.booking_reference || `booking ${p.booking_id}`}</a>` : '',
    when(p), people(p), p.status ? String(p.status).replace('_', ' ') : '', p.customer_email || '',
    p.waitlist_entry_id !== undefined ? `waitlist entry ${p.waitlist_entry_id}` : '',
    p.reason ? `reason: ${reasonText(p.reason)}` : '',
    p.guaranteed_by ? `guaranteed: ${GUARANTEED_BY[p.guaranteed_by] || p.guaranteed_by}` : '',
    p.min_capacity !== undefined && p.booked !== undefined ? `${p.booked} booked of a minimum of ${p.min_capacity}` : '',
    p.note ? `note: ${p.note}` : '',
    p.cancelled_bookings !== undefined ? `${p.cancelled_bookings} booking(s) cancelled` : '',
  ].filter((x) => x !== '');
  const prev = p.previous ? [when(p.previous), people(p.previous)].filter(Boolean).join(', ') : '';
  return html`${join(parts, ' · ')}${prev ? html`<br><span class="muted">was ${prev}</span>` : ''}`;
}

// ---- customer email ----
const MESSAGE_STATUS = { queued: 'waiting to be sent', sent: 'sent', dead: 'gave up', held: 'not sent: email is off' };

async function messagesView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const view = shell('messages', html`<form class="row" id="f">
    <div><label>Status<select name="status"><option value="">Any</option>${Object.keys(MESSAGE_STATUS).map((s) => html`<option value="${s}" ${p.get('status') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
    <div><label>Email<input type="email" name="email" value="${p.get('email') || ''}"></label></div>
    <div><button class="btn" type="submit">Filter</button></div></form><div id="list"><p class="skeleton"></p></div>`);
  view.querySelector('#f').addEventListener('submit', (e) => { e.preventDefault(); navigate(`messages?${new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v))}`, '#list .table-wrap, #list p'); });
  const q = new URLSearchParams([...p].filter(([k]) => k === 'status' || k === 'email'));
  q.set('limit', '200');
  const r = await api(`/api/calendar/admin/messages?${q}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  setHtml(list, r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>When</th><th>To</th><th>Subject</th><th>Status</th><th>Attempts</th></tr></thead><tbody>
    ${r.data.map((m) => html`<tr><td>${new Date(m.created_at).toLocaleString()}</td><td>${m.to_email}</td>
    <td><a href="#message/${m.id}">${m.subject}</a></td><td><span class="pill ${m.status}">${m.status}</span><br><span class="muted">${MESSAGE_STATUS[m.status] || ''}</span>${m.last_error ? html`<br><span class="muted">${m.last_error}</span>` : ''}</td>
    <td>${m.attempts}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">No messages yet.</p>`);
}

async function messageDetail(id) {
  const view = shell('messages', html`<p class="skeleton"></p>`);
  const r = await api(`/api/calendar/admin/messages/${encodeURIComponent(id)}`);
  if (!r.ok) return say(view, problem(r));
  const m = r.data;
  setHtml(view, html`<p><a href="#messages">← All messages</a></p>
    <div class="card"><h2>${m.subject}</h2>
    <p>To <strong>${m.to_email}</strong> · <span class="pill ${m.status}">${m.status}</span> ${MESSAGE_STATUS[m.status] || ''}
    · ${m.attempts} attempt(s)${m.sent_at ? html` · sent ${new Date(m.sent_at).toLocaleString()}` : ''}</p>
    ${m.last_error ? html`<p class="error">Last error: ${m.last_error}</p>` : ''}
    ${m.status === 'dead' || m.status === 'held' ? html`<p><button class="btn" id="retry">Send again</button></p>` : ''}
    <h3>HTML</h3><iframe class="email-preview" title="The email as HTML" sandbox src="/api/calendar/admin/messages/${m.id}/html"></iframe>
    <h3>Plain text</h3><pre class="email-text">${m.text_body}</pre></div>`);
  view.querySelector('#retry')?.addEventListener('click', async () => {
    const res = await api(`/api/calendar/admin/messages/${m.id}/retry`, { method: 'POST' });
    res.ok ? flash('Queued to send again.') : flash(problem(res), false);
    if (res.ok) messageDetail(id);
  });
}

// ---- webhooks ----
// Endpoints, their deliveries and each delivery's attempts. A secret is in
// the API's answer only when it is set (created or rotated): it is shown
// that once, and kept nowhere but on that one render.
const DELIVERY_STATUS = {
  pending: 'waiting to be sent or retried', sending: 'being sent now', delivered: 'delivered', dead: 'gave up: replay it to try again',
};
const UNFINISHED = ['pending', 'sending'];
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
let eventTypes = null;
/** {id, secret, rotated}: the secret the next render of that endpoint shows, once. */
let revealedSecret = null;

/** A test that the view rendered last is still the one on screen. */
function stillShown() {
  const mine = viewCount;
  return () => mine === viewCount;
}

/** Calls `fn` in `ms` if the view is still shown (later while the tab is hidden). One at a time. */
function poll(shown, fn, ms = 3000) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => {
    if (!shown()) return;
    if (document.hidden) { poll(shown, fn, ms); return; }
    fn();
  }, ms);
}

async function loadEventTypes() {
  if (eventTypes) return eventTypes;
  const r = await api('/api/calendar/admin/webhooks/event-types');
  if (r.ok && Array.isArray(r.data)) eventTypes = r.data;
  return eventTypes || [];
}

const eventsSummary = (events) => (events.includes('*')
  ? html`<strong>All events</strong>`
  : join(events.map((e) => html`<code>${e}</code>`), ', '));
const endpointBadge = (w) => (w.is_active
  ? html`<span class="pill enabled" data-badge>Active</span>`
  : html`<span class="pill paused" data-badge>Paused</span>`);
const prettyJson = (text) => {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text || ''; }
};
const PAUSED_NOTE = 'Paused: nothing is sent to this endpoint. Events that happen meanwhile are kept and go out when you resume it.';

const SIGNATURE_HELP = raw`<details class="card stacked help" id="wh-help"><summary>Verifying signatures</summary>
  <p>Each event is POSTed as JSON (<code>Content-Type: application/json</code>) with these headers:</p>
  <ul>
    <li><code>Tourdesk-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</code>: <code>v1</code> is the HMAC-SHA256, in lowercase hex,
      of <code>&lt;t&gt;.&lt;raw body&gt;</code> (the timestamp, a dot, then the body exactly as received), keyed with the endpoint's signing secret.</li>
    <li><code>Tourdesk-Event-Id</code>: the event's id (<code>evt_…</code>, also the body's <code>id</code>), the same on every retry and replay.</li>
    <li><code>Tourdesk-Event-Type</code>: the event type, for example <code>booking.created</code>.</li>
    <li><code>Tourdesk-Delivery-Attempt</code>: 1 for the first attempt, then 2, 3 …</li>
  </ul>
  <p>Your receiver should:</p>
  <ol>
    <li>Compute the HMAC over the raw body, before parsing it as JSON, and compare it with <code>v1</code> in constant time.</li>
    <li>Reject a <code>t</code> more than 5 minutes away from its own clock, so a captured request cannot be sent again later.</li>
    <li>Drop duplicates by <code>Tourdesk-Event-Id</code>: a retry or a replay sends the same event again.</li>
    <li>Answer with a 2xx status within a few seconds. Any other answer, no answer or a redirect counts as a failure: it is retried after 30 s, 1, 2, 4 … minutes (at most 6 hours apart), then given up; you can replay it from its delivery here.</li>
  </ol>
  <p>For example, in Node.js:</p>
  <pre class="code-block" tabindex="0" aria-label="Example: checking a signature in Node.js">const crypto = require('node:crypto');

// rawBody: the request body exactly as received (a Buffer or a string).
function verified(rawBody, signatureHeader, secret) {
  const parts = Object.fromEntries(signatureHeader.split(',').map((kv) =&gt; kv.split('=')));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) &gt; 300) return false;
  const expected = crypto.createHmac('sha256', secret).update(parts.t + '.').update(rawBody).digest();
  const given = Buffer.from(parts.v1 || '', 'hex');
  return given.length === expected.length &amp;&amp; crypto.timingSafeEqual(given, expected);
}</pre></details>`;

/** The form for a new endpoint (`w` null) or for editing `w`. */
function webhookForm(w, types) {
  const p = w ? 'we' : 'wn', chosen = new Set(w?.events || []), all = chosen.has('*');
  return html`<form class="card stacked" id="${p}-form" novalidate aria-labelledby="${p}-title">
    <h2 id="${p}-title">${w ? 'Edit endpoint' : 'New endpoint'}</h2>
    <label for="${p}-url">Endpoint URL</label>
    <input id="${p}-url" name="url" type="url" inputmode="url" autocomplete="off" spellcheck="false" required
      placeholder="https://hooks.example.com/tourdesk" value="${w?.url ?? ''}" aria-describedby="${p}-url-err">
    <p class="field-error" id="${p}-url-err" data-field-err="url"></p>
    <label for="${p}-description">Description <span class="muted">(optional)</span></label>
    <input id="${p}-description" name="description" maxlength="200" value="${w?.description ?? ''}" aria-describedby="${p}-description-err">
    <p class="field-error" id="${p}-description-err" data-field-err="description"></p>
    <fieldset class="event-choices" aria-describedby="${p}-events-err"><legend>Events to send</legend>
      <label class="inline-choice"><input type="checkbox" name="all_events" ${all ? 'checked' : ''} aria-describedby="${p}-events-err">
        <strong>All events</strong> <span class="muted">(including types added later)</span></label>
      <div class="choice-grid">${types.map((t) => html`<label class="inline-choice"><input type="checkbox" name="event" value="${t}"
        ${chosen.has(t) || all ? 'checked' : ''} ${all ? 'disabled' : ''}> <code>${t}</code></label>`)}</div>
    </fieldset>
    <p class="field-error" id="${p}-events-err" data-field-err="events"></p>
    ${w ? '' : html`<label for="${p}-secret">Signing secret <span class="muted">(optional)</span></label>
      <input id="${p}-secret" name="secret" autocomplete="off" spellcheck="false" aria-describedby="${p}-secret-help ${p}-secret-err">
      <p class="muted" id="${p}-secret-help">16 to 256 printable characters without spaces. Leave it empty and Tourdesk makes a strong one for you.</p>
      <p class="field-error" id="${p}-secret-err" data-field-err="secret"></p>`}
    <p class="actions"><button class="btn" type="submit">${w ? 'Save endpoint' : 'Add endpoint'}</button>
      ${w ? html`<button class="btn secondary" type="button" data-cancel>Cancel</button>` : ''}</p>
    <p class="error" role="alert" data-err></p></form>`;
}

/** Shows `text` under the form's `field`; false when the form has no such field. */
function fieldError(form, field, text) {
  const slot = [...form.querySelectorAll('[data-field-err]')].find((el) => el.dataset.fieldErr === field);
  if (!slot) return false;
  slot.textContent = text;
  const control = form.elements.namedItem(field === 'events' ? 'all_events' : field);
  if (control instanceof HTMLElement) {
    control.setAttribute('aria-invalid', 'true');
    control.focus();
  }
  return true;
}

function clearErrors(form) {
  form.querySelectorAll('[data-field-err]').forEach((el) => { el.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  form.querySelector('[data-err]').textContent = '';
}

/**
 * Wires the endpoint form: "All events" stands for every type; `submit`
 * gets the request body and answers the API's response. A 422 shows its
 * detail under the field it names.
 */
function wireWebhookForm(form, submit) {
  const all = form.elements.namedItem('all_events');
  const boxes = [...form.querySelectorAll('input[name="event"]')];
  const sync = () => boxes.forEach((b) => { b.disabled = all.checked; if (all.checked) b.checked = true; });
  all.addEventListener('change', () => {
    sync();
    if (!all.checked) boxes.forEach((b) => { b.checked = false; });
  });
  form.addEventListener('reset', () => setTimeout(() => { clearErrors(form); sync(); }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const events = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
    if (!events.length) return fieldError(form, 'events', 'Choose at least one event, or All events.');
    const body = { url: form.elements.namedItem('url').value.trim(), description: form.elements.namedItem('description').value.trim(), events };
    const secret = form.elements.namedItem('secret')?.value.trim();
    if (secret) body.secret = secret;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const r = await submit(body);
    button.disabled = false;
    if (r.ok) return;
    if (!(r.status === 422 && r.data?.field && fieldError(form, r.data.field, problem(r)))) say(form.querySelector('[data-err]'), problem(r));
  });
}

/** Pauses or resumes `w`; says what happened. */
async function setActive(w, active) {
  const r = await api(`/api/calendar/admin/webhooks/${w.id}`, { method: 'PATCH', body: { is_active: active } });
  if (!r.ok) flash(problem(r), false);
  else flash(active ? 'Endpoint resumed: the deliveries kept while it was paused go out now.' : 'Endpoint paused: events are kept and sent when you resume it.');
  return r;
}

async function webhooksView(focusToggleOf) {
  const view = shell('webhooks', html`<div class="row account-bar"><h1>Webhooks</h1>
      <button class="btn" type="button" id="wh-new-toggle" aria-controls="wn-form" aria-expanded="false" disabled>New endpoint</button></div>
    <p class="muted">Tourdesk sends booking, waitlist and departure events to your endpoints as signed HTTP POST requests.</p>
    <div id="wh-list" aria-busy="true"><p class="skeleton"></p></div><div id="wh-new"></div>${SIGNATURE_HELP}`);
  const shown = stillShown();
  const [r, types] = await Promise.all([api('/api/calendar/admin/webhooks'), loadEventTypes()]);
  if (!shown()) return;
  const list = view.querySelector('#wh-list');
  list.setAttribute('aria-busy', 'false');
  if (!r.ok) return say(list, problem(r));
  setHtml(list, r.data.length ? html`<div class="table-wrap"><table><caption class="sr-only">Webhook endpoints</caption>
    <thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">Status</th><th scope="col">Secret</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>
    ${r.data.map((w) => html`<tr data-webhook="${w.id}"><td class="break-all"><a href="#webhook/${w.id}">${w.url}</a>${w.description ? html`<br><span class="muted">${w.description}</span>` : ''}</td>
      <td>${eventsSummary(w.events)}</td><td>${endpointBadge(w)}</td><td><code>${w.secret_hint}</code></td><td>${when(w.created_at)}</td>
      <td><button class="btn secondary" type="button" data-toggle aria-label="${w.is_active ? 'Pause' : 'Resume'} ${w.url}">${w.is_active ? 'Pause' : 'Resume'}</button></td></tr>`)}
    </tbody></table></div>` : html`<p class="muted">No endpoints yet. Add one to have events sent to your own systems.</p>`);
  list.querySelectorAll('[data-toggle]').forEach((b) => b.addEventListener('click', async () => {
    const w = r.data.find((x) => String(x.id) === b.closest('tr').dataset.webhook);
    b.disabled = true;
    const res = await setActive(w, !w.is_active);
    if (res.ok) webhooksView(w.id); else b.disabled = false;
  }));
  if (focusToggleOf !== undefined) list.querySelector(`tr[data-webhook="${Number(focusToggleOf)}"] [data-toggle]`)?.focus();

  setHtml(view.querySelector('#wh-new'), webhookForm(null, types));
  const form = view.querySelector('#wn-form'), toggle = view.querySelector('#wh-new-toggle');
  const open = (yes) => { form.hidden = !yes; toggle.setAttribute('aria-expanded', String(yes)); };
  open(!r.data.length);
  toggle.disabled = false;
  toggle.addEventListener('click', () => {
    open(form.hidden);
    if (!form.hidden) form.elements.namedItem('url').focus();
  });
  wireWebhookForm(form, async (body) => {
    const res = await api('/api/calendar/admin/webhooks', { method: 'POST', body });
    if (res.ok) {
      revealedSecret = { id: res.data.id, secret: res.data.secret, rotated: false };
      flash('Endpoint added.');
      location.hash = `webhook/${res.data.id}`;
    }
    return res;
  });
}

function secretBox(secret, rotated) {
  return html`<section class="card secret-reveal stacked" id="wh-secret-box" aria-labelledby="wh-secret-title">
    <h2 id="wh-secret-title" tabindex="-1">${rotated ? 'Your new signing secret' : 'Your signing secret'}</h2>
    <p><strong>Copy it now: it won't be shown again.</strong>
      ${rotated ? 'The old secret no longer signs deliveries: give your receiver this one now.' : 'Your receiver needs it to check the signature of every delivery.'}</p>
    <p><code class="secret-value" id="wh-secret">${secret}</code></p>
    <p class="actions"><button class="btn" type="button" id="wh-copy">Copy secret</button>
      <button class="btn secondary" type="button" id="wh-secret-done">I have saved it</button></p>
    <p id="wh-copy-status" role="status"></p></section>`;
}

function wireSecretBox(view) {
  const box = view.querySelector('#wh-secret-box');
  if (!box) return;
  const code = box.querySelector('#wh-secret'), out = box.querySelector('#wh-copy-status');
  box.querySelector('#wh-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
      say(out, 'Copied to the clipboard.', true);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      say(out, 'Selected: press Ctrl+C (⌘C on a Mac) to copy it.', true);
    }
  });
  box.querySelector('#wh-secret-done').addEventListener('click', () => {
    box.remove();
    view.querySelector('h1')?.focus();
  });
  box.querySelector('#wh-secret-title').focus();
}

function deliveriesTable(list, filtered) {
  if (!list.length) {
    return html`<p class="muted">${filtered ? 'No deliveries with this status.' : 'No deliveries yet: each event this endpoint subscribes to shows here within seconds of happening.'}</p>`;
  }
  const next = (d) => {
    if (d.status === 'delivered') return `delivered ${when(d.delivered_at)}`;
    if (d.status === 'pending') return `${d.attempts ? 'retry' : 'due'} ${when(d.next_attempt_at)}`;
    return d.status === 'sending' ? 'now' : '—';
  };
  return html`<div class="table-wrap"><table><caption class="sr-only">Deliveries to this endpoint, newest first</caption>
    <thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Created</th><th scope="col">Next attempt</th><th scope="col">Last error</th></tr></thead><tbody>
    ${list.map((d) => html`<tr data-delivery="${d.id}"><td><a href="#webhook-delivery/${d.id}">${d.event_type}</a><br><code class="muted">${d.event_id}</code></td>
      <td><span class="pill ${d.status}">${d.status}</span><br><span class="muted">${DELIVERY_STATUS[d.status] || ''}</span></td>
      <td>${d.attempts}</td><td>${when(d.created_at)}</td><td>${next(d)}</td><td class="break-all">${d.last_error || ''}</td></tr>`)}
    </tbody></table></div>`;
}

async function webhookView(id) {
  const view = shell('webhooks', html`<p class="skeleton"></p>`);
  const shown = stillShown();
  const reveal = revealedSecret && String(revealedSecret.id) === String(id) ? revealedSecret : null;
  revealedSecret = null;
  const [r, types] = await Promise.all([api(`/api/calendar/admin/webhooks/${encodeURIComponent(id)}`), loadEventTypes()]);
  if (!shown()) return;
  if (!r.ok) {
    setHtml(view, html`<p><a href="#webhooks">← All endpoints</a></p><p class="error" role="alert">${problem(r)}</p>`);
    return;
  }
  const w = r.data;
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const status = Object.hasOwn(DELIVERY_STATUS, p.get('status') || '') ? p.get('status') : '';
  setHtml(view, html`<p><a href="#webhooks">← All endpoints</a></p>
    <h1 class="break-all" tabindex="-1">${w.url} ${endpointBadge(w)}</h1>
    ${reveal ? secretBox(reveal.secret, reveal.rotated) : ''}
    <div class="card stacked">
      ${w.description ? html`<p id="wh-description" class="break-all">${w.description}</p>` : ''}
      ${w.is_active ? '' : html`<p class="muted">${PAUSED_NOTE}</p>`}
      <dl class="facts"><dt>Events</dt><dd>${eventsSummary(w.events)}</dd>
        <dt>Signing secret</dt><dd><code>${w.secret_hint}</code> <span class="muted">(its last characters)</span></dd>
        <dt>Created</dt><dd>${when(w.created_at)}</dd><dt>Last changed</dt><dd>${when(w.updated_at)}</dd></dl>
      <div class="actions no-print">
        <button class="btn secondary" type="button" id="wh-toggle">${w.is_active ? 'Pause' : 'Resume'}</button>
        <button class="btn secondary" type="button" id="wh-edit" aria-controls="we-form" aria-expanded="false">Edit</button>
        <button class="btn secondary" type="button" id="wh-rotate">Rotate secret</button>
        <button class="btn danger" type="button" id="wh-delete">Delete</button></div></div>
    ${webhookForm(w, types)}
    <h2>Deliveries</h2>
    <form class="row no-print" id="wh-filter">
      <div><label>Status<select name="status"><option value="">Any</option>${Object.keys(DELIVERY_STATUS).map((s) => html`<option value="${s}" ${status === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
      <div><button class="btn" type="submit">Filter</button> <button class="btn secondary" type="button" id="wh-refresh">Refresh</button></div></form>
    <div id="wh-deliveries" aria-busy="true"><p class="skeleton"></p></div>
    ${SIGNATURE_HELP}`);
  wireSecretBox(view);

  view.querySelector('#wh-toggle').addEventListener('click', async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    const res = await setActive(w, !w.is_active);
    if (!res.ok) { button.disabled = false; return; }
    await webhookView(id);
    document.getElementById('wh-toggle')?.focus();
  });
  const form = view.querySelector('#we-form'), edit = view.querySelector('#wh-edit');
  const editing = (yes) => { form.hidden = !yes; edit.setAttribute('aria-expanded', String(yes)); };
  editing(false);
  edit.addEventListener('click', () => {
    editing(form.hidden);
    if (!form.hidden) form.elements.namedItem('url').focus();
  });
  form.querySelector('[data-cancel]').addEventListener('click', () => { form.reset(); editing(false); edit.focus(); });
  wireWebhookForm(form, async (body) => {
    const res = await api(`/api/calendar/admin/webhooks/${w.id}`, { method: 'PATCH', body });
    if (res.ok) { flash('Endpoint saved.'); webhookView(id); }
    return res;
  });
  view.querySelector('#wh-rotate').addEventListener('click', async () => {
    if (!confirm('Rotate the signing secret? The current secret stops working at once: every delivery from now on, retries included, is signed with the new one. Give your receiver the new secret right away.')) return;
    const res = await api(`/api/calendar/admin/webhooks/${w.id}/secret`, { method: 'POST' });
    if (!res.ok) return flash(problem(res), false);
    revealedSecret = { id: w.id, secret: res.data.secret, rotated: true };
    flash('Secret rotated.');
    webhookView(id);
  });
  view.querySelector('#wh-delete').addEventListener('click', async () => {
    if (!confirm(`Delete the endpoint ${w.url}? Nothing more is sent to it, and its delivery log is deleted too.`)) return;
    const res = await api(`/api/calendar/admin/webhooks/${w.id}`, { method: 'DELETE' });
    if (!res.ok) return flash(problem(res), false);
    flash('Endpoint deleted.');
    location.hash = 'webhooks';
  });

  view.querySelector('#wh-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    const s = e.target.elements.namedItem('status').value;
    location.hash = s ? `webhook/${w.id}?status=${encodeURIComponent(s)}` : `webhook/${w.id}`;
  });
  // The list refreshes itself while shown, and re-renders only on a change
  // (so the keyboard focus stays where it is).
  const box = view.querySelector('#wh-deliveries');
  let rendered = '';
  const load = async (force = false) => {
    const q = new URLSearchParams({ limit: '100' });
    if (status) q.set('status', status);
    const d = await api(`/api/calendar/admin/webhooks/${w.id}/deliveries?${q}`);
    if (!shown()) return;
    const key = JSON.stringify([d.status, d.data]);
    if (force || key !== rendered) {
      rendered = key;
      if (d.ok) setHtml(box, deliveriesTable(d.data, Boolean(status)));
      else say(box, problem(d));
    }
    box.setAttribute('aria-busy', 'false');
    poll(shown, () => load());
  };
  view.querySelector('#wh-refresh').addEventListener('click', () => load(true));
  load(true);
}

function attemptLog(log) {
  if (!log.length) return html`<p class="muted">Not attempted yet.</p>`;
  const code = (a) => {
    if (a.status_code === null || a.status_code === undefined) return html`<span class="muted">no answer</span>`;
    return html`<span class="${a.status_code >= 200 && a.status_code < 300 ? 'ok' : 'error'}">${a.status_code}</span>`;
  };
  return html`<div class="table-wrap"><table><caption class="sr-only">Every attempt, newest first</caption>
    <thead><tr><th scope="col">Attempt</th><th scope="col">Time</th><th scope="col">HTTP status</th><th scope="col">Latency</th><th scope="col">Error</th><th scope="col">Response</th></tr></thead><tbody>
    ${[...log].reverse().map((a) => html`<tr data-attempt="${a.attempt}"><td>${a.attempt}</td><td>${when(a.attempted_at)}</td><td>${code(a)}</td>
      <td>${a.latency_ms} ms</td><td class="break-all">${a.error || html`<span class="ok">none</span>`}</td>
      <td>${a.response_excerpt ? html`<pre class="excerpt">${a.response_excerpt}</pre>` : html`<span class="muted">empty</span>`}</td></tr>`)}
    </tbody></table></div><p class="muted">Newest first. A replay counts its attempts from 1 again.</p>`;
}

function deliverySummary(d) {
  return html`<dl class="facts"><dt>Status</dt><dd><span class="pill ${d.status}" data-status>${d.status}</span> <span class="muted">${DELIVERY_STATUS[d.status] || ''}</span></dd>
    <dt>Attempts</dt><dd>${d.attempts}</dd><dt>Created</dt><dd>${when(d.created_at)}</dd>
    ${d.status === 'pending' ? html`<dt>Next attempt</dt><dd>${when(d.next_attempt_at)}</dd>` : ''}
    ${d.delivered_at ? html`<dt>Delivered</dt><dd>${when(d.delivered_at)}</dd>` : ''}
    ${d.last_error ? html`<dt>Last error</dt><dd class="error">${d.last_error}</dd>` : ''}</dl>`;
}

async function deliveryDetail(id) {
  const view = shell('webhooks', html`<p class="skeleton"></p>`);
  const shown = stillShown();
  const path = `/api/calendar/admin/webhook-deliveries/${encodeURIComponent(id)}`;
  const r = await api(path);
  if (!shown()) return;
  if (!r.ok) {
    setHtml(view, html`<p><a href="#webhooks">← All endpoints</a></p><p class="error" role="alert">${problem(r)}</p>`);
    return;
  }
  const d = r.data;
  setHtml(view, html`<p><a href="#webhook/${d.webhook_id}">← Endpoint and its deliveries</a></p>
    <h1><code>${d.event_type}</code> <span class="muted">${d.event_id}</span></h1>
    <div class="card stacked"><div id="wd-summary" aria-live="polite"></div>
      <p class="actions no-print"><button class="btn" type="button" id="wd-replay" aria-describedby="wd-replay-help">Replay</button>
        <span class="muted" id="wd-replay-help">Sends this event again now: the same event id and body, freshly signed, with fresh attempts.</span></p></div>
    <h2>Attempts</h2><div id="wd-log"></div>
    <h2>Request body</h2><pre class="code-block" tabindex="0" aria-label="Request body">${prettyJson(d.body)}</pre>`);
  let rendered = '';
  const render = (x) => {
    const key = JSON.stringify([x.status, x.attempts, x.next_attempt_at, x.last_error, x.attempt_log]);
    if (key === rendered) return;
    rendered = key;
    setHtml(view.querySelector('#wd-summary'), deliverySummary(x));
    setHtml(view.querySelector('#wd-log'), attemptLog(x.attempt_log || []));
  };
  // While it may still be attempted, the page follows it.
  const refresh = async () => {
    const res = await api(path);
    if (!shown()) return;
    if (res.ok) render(res.data);
    if (!res.ok || UNFINISHED.includes(res.data.status)) poll(shown, refresh);
  };
  render(d);
  if (UNFINISHED.includes(d.status)) poll(shown, refresh);
  view.querySelector('#wd-replay').addEventListener('click', async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    const res = await api(`${path}/replay`, { method: 'POST' });
    button.disabled = false;
    if (!res.ok) return flash(problem(res), false);
    flash('Replay queued: it is sent again within seconds.');
    refresh();
  });
}

// ---- reports ----
// Figures from the four report endpoints, each drawn as an inline SVG chart
// by this page (no library, nothing from elsewhere), with its data as a
// table (in a <details>, for screen readers and exact numbers) and as a
// CSV download. Colours come from classes in tourdesk.css.
const REPORT_KINDS = ['daily', 'utilization', 'waitlist', 'no-shows'];
const pct = (v) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(1)}%`);
const dayLabel = (iso) => formatDate(iso, { day: 'numeric', month: 'short' });
const longDay = (iso) => formatDate(iso, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
/** Short amounts for an axis ("€1.2K"); `money` elsewhere. */
const compactMoney = (currency) => (v) => {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, notation: 'compact' }).format(v);
  } catch {
    return money(v, currency);
  }
};
/** The chart's width in SVG units; it scales to the page. */
const CHART_W = 760;

/** The smallest "round" number (1, 2 or 5 × 10^n) at or above `v`. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** A date label under column `i` of `n` (each `w` wide from `x0`): the first and last stay inside the chart. */
function columnLabel(i, n, x0, w, y, text) {
  const [x, anchor] = n > 1 && i === 0 ? [x0, 'start'] : n > 1 && i === n - 1 ? [x0 + n * w, 'end'] : [x0 + i * w + w / 2, 'middle'];
  return html`<text x="${x}" y="${y}" text-anchor="${anchor}">${text}</text>`;
}

/** Every `step`-th index (and the last) of `n` labels, at most about `most` of them. */
const labelled = (n, most = 10) => {
  const step = Math.max(1, Math.ceil(n / most));
  return (i) => i === n - 1 || (i % step === 0 && (step === 1 || n - 1 - i >= step));
};

/** Table cell text in a CSV file; text that a spreadsheet would run as a formula starts with '. */
function csvCell(v) {
  let s = v === null || v === undefined ? '' : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function downloadCsv(name, rows) {
  const text = rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.appendChild(a); a.click(); a.remove(); URL.revokeObjectURL(url);
}

/** A report's frame: heading, CSV button, chart(s), a legend and the table fallback. */
function reportSection(id, title, note, chart, table, legend = '') {
  return html`<section class="card report" id="${id}" aria-labelledby="${id}-title">
    <div class="report-head"><h2 id="${id}-title">${title}</h2>
      <button class="btn secondary no-print" type="button" data-csv="${id}">Download CSV<span class="sr-only">: ${title}</span></button></div>
    ${note ? html`<p class="muted">${note}</p>` : ''}${chart}${legend}
    <details class="data"><summary>Table: ${title}</summary><div class="table-wrap">${table}</div></details></section>`;
}

const legendOf = (items) => html`<ul class="legend">${items.map(([cls, label]) => html`<li><span class="swatch ${cls}"></span>${label}</li>`)}</ul>`;

/** An SVG wrapper that is one image to assistive technology, named by `label`. */
function svgFigure(label, height, body) {
  return html`<svg class="chart" role="img" aria-label="${label}" viewBox="0 0 ${CHART_W} ${height}" preserveAspectRatio="xMidYMid meet"><title>${label}</title>${body}</svg>`;
}

/**
 * Vertical bars per category (a day), one bar per series side by side:
 * series = [{name, cls, values}], values by category.
 */
function barChart(label, categories, series, format = String) {
  const H = 220, left = 56, right = 8, top = 10, bottom = 28;
  const plotW = CHART_W - left - right, plotH = H - top - bottom;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const slot = plotW / Math.max(1, categories.length);
  const barW = Math.max(0.5, (slot * 0.8) / series.length);
  const y = (v) => top + plotH - (plotH * v) / max;
  const show = labelled(categories.length);
  return svgFigure(label, H, html`
    ${[0, max / 2, max].map((v) => html`<line class="grid" x1="${left}" x2="${CHART_W - right}" y1="${y(v)}" y2="${y(v)}"></line>
      <text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${format(v)}</text>`)}
    ${categories.map((c, i) => html`<g>${series.map((s, k) => html`<rect class="${s.cls}" x="${left + i * slot + slot * 0.1 + k * barW}" y="${y(s.values[i])}" width="${barW}" height="${Math.max(0, top + plotH - y(s.values[i]))}"><title>${longDay(c)}: ${format(s.values[i])} ${s.name}</title></rect>`)}
      ${show(i) ? columnLabel(i, categories.length, left, slot, H - 10, dayLabel(c)) : ''}</g>`)}
    <line class="axis" x1="${left}" x2="${CHART_W - right}" y1="${top + plotH}" y2="${top + plotH}"></line>`);
}

/** Horizontal bars, one per row: rows = [{label, parts: [{cls, value, name}], total, text}]. */
function hbarChart(label, rows) {
  const rowH = 30, left = 190, right = 150, top = 6;
  const H = top * 2 + rowH * Math.max(1, rows.length);
  const plotW = CHART_W - left - right;
  const max = Math.max(1, ...rows.map((r) => r.total));
  return svgFigure(label, H, html`${rows.map((r, i) => {
    let x = left;
    const yy = top + i * rowH;
    return html`<g><text x="${left - 8}" y="${yy + rowH / 2 + 4}" text-anchor="end">${r.label.length > 28 ? `${r.label.slice(0, 27)}…` : r.label}</text>
      <rect class="s-track" x="${left}" y="${yy + 6}" width="${plotW}" height="${rowH - 12}"></rect>
      ${r.parts.map((p) => { const w = (plotW * p.value) / max; const el = html`<rect class="${p.cls}" x="${x}" y="${yy + 6}" width="${w}" height="${rowH - 12}"><title>${r.label}: ${p.value} ${p.name}</title></rect>`; x += w; return el; })}
      <text x="${left + plotW + 8}" y="${yy + rowH / 2 + 4}">${r.text}</text></g>`;
  })}`);
}

const HEAT = [[0, 'heat-0', 'none booked'], [25, 'heat-1', 'under 25%'], [50, 'heat-2', '25–49%'], [75, 'heat-3', '50–74%'], [Infinity, 'heat-4', '75% or more']];
const heatClass = (p) => (p === 0 ? 'heat-0' : HEAT.find(([below], i) => i > 0 && p < below)?.[1] || 'heat-4');

/** Departures by date (columns) and start time (rows), coloured by how full they are. */
function heatMap(label, dates, departures) {
  const cells = new Map();
  for (const d of departures) {
    const key = `${d.slot_date} ${d.start_time}`;
    const c = cells.get(key) || { date: d.slot_date, time: d.start_time, capacity: 0, booked: 0, held: 0, n: 0 };
    c.capacity += d.capacity; c.booked += d.booked; c.held += d.held; c.n += 1;
    cells.set(key, c);
  }
  const times = [...new Set(departures.map((d) => d.start_time))].sort();
  const left = 52, top = 8, bottom = 26, rowH = 22;
  const H = top + bottom + rowH * Math.max(1, times.length);
  const colW = (CHART_W - left - 8) / Math.max(1, dates.length);
  const col = new Map(dates.map((d, i) => [d, i]));
  const show = labelled(dates.length);
  return svgFigure(label, H, html`
    ${times.map((t, r) => html`<text x="${left - 6}" y="${top + r * rowH + rowH / 2 + 4}" text-anchor="end">${formatTime(t)}</text>`)}
    ${[...cells.values()].filter((c) => col.has(c.date)).map((c) => {
      const p = c.capacity ? (100 * c.booked) / c.capacity : 0;
      return html`<rect class="${heatClass(p)}" data-cell="${c.date} ${c.time}" x="${left + col.get(c.date) * colW + 0.5}" y="${top + times.indexOf(c.time) * rowH + 1}" width="${Math.max(0.5, colW - 1)}" height="${rowH - 2}"><title>${longDay(c.date)} ${formatTime(c.time)}: ${c.booked} of ${c.capacity} booked (${pct(Math.round(p * 10) / 10)})${c.n > 1 ? `, ${c.n} departures` : ''}</title></rect>`;
    })}
    ${dates.map((d, i) => (show(i) ? columnLabel(i, dates.length, left, colW, H - 8, dayLabel(d)) : ''))}`);
}

/** Every date from `from` to `to`, as YYYY-MM-DD. */
function datesBetween(from, to) {
  const out = [];
  for (let d = parseDate(from), end = parseDate(to); d <= end && out.length < 800; d = addDays(d, 1)) out.push(isoDate(d));
  return out;
}

/** A departure's tour name as the report gives it (every departure's tour is in its `tours`). */
const departureTourName = (u) => (id) => u.tours.find((t) => t.tour_id === id)?.tour_name || tourName(id);

const headRow = (cells) => html`<thead><tr>${cells.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>`;

function dailySections(daily) {
  const dates = daily.days.map((d) => d.date);
  const counts = reportSection('rp-daily', 'Bookings and cancellations per day',
    'A booking counts on the day it was made, a cancellation on the day it happened, both on the calendar where the tour runs.',
    barChart(`Bookings and cancellations per day, ${daily.start_date} to ${daily.end_date}: ${daily.totals.bookings} bookings, ${daily.totals.cancellations} cancellations`,
      dates, [{ name: 'bookings', cls: 's-bookings', values: daily.days.map((d) => d.bookings) },
        { name: 'cancellations', cls: 's-cancellations', values: daily.days.map((d) => d.cancellations) }]),
    html`<table>${headRow(['Date', 'Bookings', 'People', 'Cancellations', 'People cancelled'])}<tbody>
      ${daily.days.map((d) => html`<tr><th scope="row"><time datetime="${d.date}">${longDay(d.date)}</time></th><td>${d.bookings}</td><td>${d.people}</td><td>${d.cancellations}</td><td>${d.cancelled_people}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${daily.totals.bookings}</td><td>${daily.totals.people}</td><td>${daily.totals.cancellations}</td><td>${daily.totals.cancelled_people}</td></tr></tfoot></table>`,
    legendOf([['s-bookings', 'Bookings made'], ['s-cancellations', 'Cancellations']]));
  const cur = daily.currencies;
  const revenue = reportSection('rp-revenue', 'Revenue per day',
    'Revenue is what the bookings made that day bring: their total, less what was refunded on those cancelled since (a cancellation without a recorded refund counts as refunded in full). Gross is their total before cancellations.',
    cur.length ? cur.map((c, k) => html`<h3>${c}</h3>${barChart(`Revenue per day in ${c}, ${daily.start_date} to ${daily.end_date}: ${money(daily.totals.revenue[k].revenue, c)} in all`,
      dates, [{ name: c, cls: 's-revenue', values: daily.days.map((d) => d.revenue[k].revenue) }], compactMoney(c))}`) : html`<p class="muted">No revenue in this period.</p>`,
    html`<table>${headRow(['Date', ...cur.flatMap((c) => [`Revenue (${c})`, `Gross (${c})`])])}<tbody>
      ${daily.days.map((d) => html`<tr><th scope="row"><time datetime="${d.date}">${longDay(d.date)}</time></th>${d.revenue.map((m) => html`<td data-currency="${m.currency}" data-kind="revenue">${money(m.revenue, m.currency)}</td><td data-currency="${m.currency}" data-kind="gross">${money(m.gross, m.currency)}</td>`)}</tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th>${daily.totals.revenue.map((m) => html`<td data-currency="${m.currency}" data-kind="revenue">${money(m.revenue, m.currency)}</td><td data-currency="${m.currency}" data-kind="gross">${money(m.gross, m.currency)}</td>`)}</tr></tfoot></table>`);
  return [counts, revenue];
}

function utilizationSections(u, dates) {
  const nameOf = departureTourName(u);
  const tours = reportSection('rp-tours', 'Utilization per tour',
    'People booked as a share of the places on the departures that run in this period (cancelled, withdrawn and blacked-out departures left out). Places held for waitlist offers are shown apart.',
    u.tours.length ? hbarChart(`Utilization per tour: ${u.tours.map((t) => `${t.tour_name} ${pct(t.utilization_percent)}`).join(', ')}`,
      u.tours.map((t) => ({ label: t.tour_name, total: t.capacity, text: `${pct(t.utilization_percent)} (${t.booked} of ${t.capacity})`,
        parts: [{ cls: 's-booked', value: t.booked, name: 'booked' }, { cls: 's-held', value: t.held, name: 'held' }] })))
      : html`<p class="muted">No departures in this period.</p>`,
    html`<table>${headRow(['Tour', 'Departures', 'Capacity', 'Booked', 'Held', 'Utilization'])}<tbody>
      ${u.tours.map((t) => html`<tr data-tour="${t.tour_id}"><th scope="row">${t.tour_name}</th><td>${t.departures}</td><td>${t.capacity}</td><td>${t.booked}</td><td>${t.held}</td><td>${pct(t.utilization_percent)}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${u.totals.departures}</td><td>${u.totals.capacity}</td><td>${u.totals.booked}</td><td>${u.totals.held}</td><td>${pct(u.totals.utilization_percent)}</td></tr></tfoot></table>`,
    legendOf([['s-booked', 'Booked'], ['s-held', 'Held for the waitlist'], ['s-track', 'Free']]));
  const heat = reportSection('rp-heatmap', 'Departures by date and time',
    'Each square is the departures at that date and start time (all tours together unless one is chosen), coloured by the share of places booked.',
    u.departures.length ? heatMap(`Departures by date and start time, coloured by utilization: ${u.departures.length} departures, ${pct(u.totals.utilization_percent)} booked overall`, dates, u.departures)
      : html`<p class="muted">No departures in this period.</p>`,
    html`<table>${headRow(['Date', 'Time', 'Tour', 'Capacity', 'Booked', 'Held', 'Utilization'])}<tbody>
      ${u.departures.map((d) => html`<tr data-slot="${d.slot_id}"><th scope="row"><time datetime="${d.slot_date}">${longDay(d.slot_date)}</time></th><td>${formatTime(d.start_time)}</td><td>${nameOf(d.tour_id)}</td><td>${d.capacity}</td><td>${d.booked}</td><td>${d.held}</td><td>${pct(d.utilization_percent)}</td></tr>`)}</tbody></table>`,
    html`<p class="legend-title">Share of places booked:</p>${legendOf([['heat-none', 'No departure'], ...HEAT.map(([, cls, label]) => [cls, label])])}`);
  return [tours, heat];
}

function waitlistSection(w) {
  const t = w.totals;
  return reportSection('rp-waitlist', 'Waitlist conversion',
    'Entries for dates in this period. Conversion is the share of the entries offered spots that booked them.',
    hbarChart(`Waitlist: ${t.joined} joined, ${t.offered} offered spots, ${t.converted} converted, conversion ${pct(t.conversion_percent)}`,
      [['Joined', t.joined, 's-bookings'], ['Offered spots', t.offered, 's-held'], ['Converted', t.converted, 's-completed'], ['Offer expired', t.expired, 's-cancellations'],
        ['Left', t.cancelled, 's-unmarked'], ['Still waiting', t.waiting, 's-track-strong']].map(([label, value, cls]) => ({ label, total: value, text: String(value), parts: [{ cls, value, name: label.toLowerCase() }] }))),
    html`<table>${headRow(['Tour', 'Joined', 'Waiting', 'Offered', 'Holding an offer', 'Converted', 'Expired', 'Left', 'Conversion'])}<tbody>
      ${w.tours.map((r) => html`<tr data-tour="${r.tour_id}"><th scope="row">${r.tour_name}</th><td>${r.joined}</td><td>${r.waiting}</td><td>${r.offered}</td><td>${r.offer_open}</td><td>${r.converted}</td><td>${r.expired}</td><td>${r.cancelled}</td><td>${pct(r.conversion_percent)}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${t.joined}</td><td>${t.waiting}</td><td>${t.offered}</td><td>${t.offer_open}</td><td>${t.converted}</td><td>${t.expired}</td><td>${t.cancelled}</td><td>${pct(t.conversion_percent)}</td></tr></tfoot></table>`);
}

function noShowSection(n) {
  return reportSection('rp-noshows', 'No-shows',
    'Bookings on departures dated in this period: the no-show rate is no-shows over bookings marked completed or no-show. Unmarked ones are still pending or confirmed on a departure that has started.',
    n.tours.length ? hbarChart(`No-shows per tour: ${n.tours.map((t) => `${t.tour_name} ${pct(t.no_show_percent)}`).join(', ')}`,
      n.tours.map((t) => ({ label: t.tour_name, total: t.completed + t.no_show + t.unmarked, text: `${pct(t.no_show_percent)} no-show`,
        parts: [{ cls: 's-completed', value: t.completed, name: 'completed' }, { cls: 's-cancellations', value: t.no_show, name: 'no-show' }, { cls: 's-unmarked', value: t.unmarked, name: 'unmarked' }] })))
      : html`<p class="muted">No bookings marked or due to be marked in this period.</p>`,
    html`<table>${headRow(['Tour', 'Completed', 'No-show', 'Unmarked', 'No-show rate'])}<tbody>
      ${n.tours.map((t) => html`<tr data-tour="${t.tour_id}"><th scope="row">${t.tour_name}</th><td>${t.completed}</td><td>${t.no_show}</td><td>${t.unmarked}</td><td>${pct(t.no_show_percent)}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${n.totals.completed}</td><td>${n.totals.no_show}</td><td>${n.totals.unmarked}</td><td>${pct(n.totals.no_show_percent)}</td></tr></tfoot></table>`,
    legendOf([['s-completed', 'Completed'], ['s-cancellations', 'No-show'], ['s-unmarked', 'Unmarked']]));
}

/** The CSV files, by section: header row first. */
function reportCsv(id, { daily, util, wait, noshow }) {
  const period = `${daily.start_date}_${daily.end_date}`;
  switch (id) {
    case 'rp-daily': return [`bookings-${period}.csv`, [['date', 'bookings', 'people', 'cancellations', 'cancelled_people'],
      ...daily.days.map((d) => [d.date, d.bookings, d.people, d.cancellations, d.cancelled_people])]];
    case 'rp-revenue': return [`revenue-${period}.csv`, [['date', 'currency', 'revenue', 'gross'],
      ...daily.days.flatMap((d) => d.revenue.map((m) => [d.date, m.currency, m.revenue, m.gross]))]];
    case 'rp-tours': return [`utilization-${period}.csv`, [['tour_id', 'tour', 'departures', 'capacity', 'booked', 'held', 'utilization_percent'],
      ...util.tours.map((t) => [t.tour_id, t.tour_name, t.departures, t.capacity, t.booked, t.held, t.utilization_percent])]];
    case 'rp-heatmap': return [`departures-${period}.csv`, [['slot_id', 'date', 'start_time', 'tour_id', 'tour', 'capacity', 'booked', 'held', 'utilization_percent'],
      ...util.departures.map((d) => [d.slot_id, d.slot_date, d.start_time, d.tour_id, departureTourName(util)(d.tour_id), d.capacity, d.booked, d.held, d.utilization_percent])]];
    case 'rp-waitlist': return [`waitlist-${period}.csv`, [['tour_id', 'tour', 'joined', 'waiting', 'offered', 'offer_open', 'converted', 'expired', 'cancelled', 'conversion_percent'],
      ...wait.tours.map((t) => [t.tour_id, t.tour_name, t.joined, t.waiting, t.offered, t.offer_open, t.converted, t.expired, t.cancelled, t.conversion_percent])]];
    default: return [`no-shows-${period}.csv`, [['tour_id', 'tour', 'completed', 'no_show', 'unmarked', 'no_show_percent'],
      ...noshow.tours.map((t) => [t.tour_id, t.tour_name, t.completed, t.no_show, t.unmarked, t.no_show_percent])]];
  }
}

async function reportsView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const today = new Date();
  const from = p.get('from') || isoDate(addDays(today, -30));
  const to = p.get('to') || isoDate(addDays(today, 30));
  const tour = p.get('tour') || '';
  const view = shell('reports', html`<h1>Reports</h1>
    <form class="row no-print" id="rp-form" novalidate>
      <div><label for="rp-from">From</label><input id="rp-from" name="from" type="date" value="${from}" required></div>
      <div><label for="rp-to">To</label><input id="rp-to" name="to" type="date" value="${to}" required></div>
      <div><label for="rp-tour">Tour</label><select id="rp-tour" name="tour">${tourOptions(tour)}</select></div>
      <div><button class="btn" type="submit">Show</button></div></form>
    <p id="rp-error" class="error" role="alert"></p>
    <div id="rp-body" aria-busy="true"><p class="skeleton"></p><p class="skeleton"></p></div>`);
  view.querySelector('#rp-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v));
    const next = `#reports?${q}`;
    if (location.hash === next) reportsView(); else location.hash = next;
  });
  const shown = stillShown();
  const q = new URLSearchParams({ start_date: from, end_date: to });
  if (tour) q.set('tour_id', tour);
  const [daily, util, wait, noshow] = await Promise.all(REPORT_KINDS.map((k) => api(`/api/calendar/admin/reports/${k}?${q}`)));
  if (!shown()) return;
  const body = view.querySelector('#rp-body');
  body.setAttribute('aria-busy', 'false');
  body.dataset.loaded = `${from}/${to}/${tour}`;
  const failed = [daily, util, wait, noshow].find((r) => !r.ok);
  if (failed) { setHtml(body, html``); return say(view.querySelector('#rp-error'), problem(failed)); }
  const data = { daily: daily.data, util: util.data, wait: wait.data, noshow: noshow.data };
  const t = data.daily.totals, scope = tour ? tourName(Number(tour)) : 'All tours';
  setHtml(body, html`<p class="muted" id="rp-scope">${scope}, ${longDay(from)} to ${longDay(to)}.</p>
    <dl class="report-figures" id="rp-figures">
      <div class="figure"><dt>Bookings made</dt><dd>${t.bookings}</dd></div>
      <div class="figure"><dt>Cancellations</dt><dd>${t.cancellations}</dd></div>
      ${t.revenue.map((m) => html`<div class="figure"><dt>Revenue (${m.currency})</dt><dd>${money(m.revenue, m.currency)}</dd></div>`)}
      <div class="figure"><dt>Utilization</dt><dd>${pct(data.util.totals.utilization_percent)}</dd></div>
      <div class="figure"><dt>Waitlist conversion</dt><dd>${pct(data.wait.totals.conversion_percent)}</dd></div>
      <div class="figure"><dt>No-show rate</dt><dd>${pct(data.noshow.totals.no_show_percent)}</dd></div></dl>
    ${dailySections(data.daily)}${utilizationSections(data.util, datesBetween(from, to))}${waitlistSection(data.wait)}${noShowSection(data.noshow)}`);
  body.querySelectorAll('[data-csv]').forEach((b) => b.addEventListener('click', () => downloadCsv(...reportCsv(b.dataset.csv, data))));
}

async function loadTours() {
  const r = await api('/api/calendar/admin/tours');
  tours = r.ok ? r.data : [];
}

async function route() {
  const focus = routeFocus;
  routeFocus = 'heading';
  const mine = ++routeCount;
  document.querySelectorAll('dialog.dialog[open]').forEach((d) => d.close());
  const [name, arg] = location.hash.slice(1).split('?')[0].split('/');
  const views = {
    tours: toursView, schedules: schedulesView, blackouts: blackoutsView, bookings: bookingsView, booking: () => bookingDetail(arg),
    waitlist: waitlistView, notifications: notificationsView, messages: messagesView, message: () => messageDetail(arg),
    webhooks: () => webhooksView(), webhook: () => webhookView(arg), 'webhook-delivery': () => deliveryDetail(arg),
    manifest: () => manifestView(arg), reports: reportsView, 'at-risk': () => atRiskView(),
  };
  await (views[name] || (() => slotsView()))();
  if (mine !== routeCount || !focus) return;
  if (focus === 'tab') main.querySelector('[role="tab"][aria-selected="true"]')?.focus();
  else focusView(focus);
}

/** Shows the console once logged in as an admin; `focus` as in routeFocus. */
async function start(focus = null) {
  const me = await session.me();
  if (!me.ok) return login(me.status === 401 ? null : problem(me));
  if (me.data.role !== 'admin') return login('This account is not an admin. Log in with an admin account.');
  const out = document.getElementById('logout'), everywhere = document.getElementById('logout-all');
  out.hidden = false;
  everywhere.hidden = false;
  out.onclick = () => logOut(false);
  everywhere.onclick = () => logOut(true);
  await loadTours();
  window.onhashchange = route;
  routeFocus = focus;
  route();
}

start();
