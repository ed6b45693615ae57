// /admin: the operator's console. Hash routes: #slots (default), #tours,
// #schedules, #blackouts, #bookings, #booking/ID, #waitlist,
// #notifications, #messages, #message/ID, #manifest/ID.
import { api, session, loggedOutEverywhere, problem, money, isoDate, parseDate, formatDate, formatTime } from '../api.js';
import { html, join, setHtml } from '../html.js';

const main = document.getElementById('main');
const TABS = [['slots', 'Slots'], ['tours', 'Tours'], ['schedules', 'Schedules'], ['blackouts', 'Blackouts'],
  ['bookings', 'Bookings'], ['waitlist', 'Waitlist'], ['notifications', 'Notifications'], ['messages', 'Messages']];
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

function shell(active, body) {
  setHtml(main, html`<div class="tabs no-print" role="tablist" aria-label="Console sections">${TABS.map(([k, label]) =>
    html`<button role="tab" aria-selected="${k === active}" data-tab="${k}">${label}</button>`)}</div>
    <p id="flash" role="status" aria-live="polite"></p><section id="view">${body}</section>`);
  main.querySelectorAll('[data-tab]').forEach((b) => b.addEventListener('click', () => { location.hash = b.dataset.tab; }));
  if (pendingFlash && Date.now() - pendingFlash.at < 2000) {
    say(document.getElementById('flash'), pendingFlash.text, pendingFlash.ok);
  }
  pendingFlash = null;
  return document.getElementById('view');
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
    start();
  });
}

/** Logs out here, or everywhere; back to the login form with what happened. */
async function logOut(everywhere) {
  if (everywhere && !confirm('Log out on every device and browser where this account is logged in, this one included?')) return;
  const r = everywhere ? await session.logoutEverywhere() : await session.logout();
  if (!r.ok && r.status !== 401) return flash(`You are still logged in: ${problem(r)}`, false);
  login(null, everywhere ? loggedOutEverywhere(r.data?.sessions_ended) : 'You are logged out.');
}

// ---- slots: week and day views ----
async function slotsView() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const mode = params.get('mode') || 'week';
  const from = params.get('from') ? parseDate(params.get('from')) : (mode === 'week' ? monday(new Date()) : new Date());
  const to = mode === 'week' ? addDays(from, 6) : from;
  const view = shell('slots', html`<div class="row no-print">
      <div><label for="from">${mode === 'week' ? 'Week of' : 'Day'}</label><input id="from" type="date" value="${isoDate(from)}"></div>
      <div><button class="btn secondary" data-shift="-1">‹ Previous</button> <button class="btn secondary" data-shift="1">Next ›</button></div>
      <div><button class="btn secondary" data-mode="${mode === 'week' ? 'day' : 'week'}">${mode === 'week' ? 'Day view' : 'Week view'}</button></div></div>
      <div id="slot-list"><p class="skeleton"></p><p class="skeleton"></p></div>`);
  const go = (d, m = mode) => { location.hash = `slots?mode=${m}&from=${isoDate(d)}`; };
  view.querySelector('#from').addEventListener('change', (e) => e.target.value && go(parseDate(e.target.value)));
  view.querySelectorAll('[data-shift]').forEach((b) => b.addEventListener('click', () => go(addDays(from, Number(b.dataset.shift) * (mode === 'week' ? 7 : 1)))));
  view.querySelector('[data-mode]').addEventListener('click', (e) => go(from, e.target.dataset.mode));
  const r = await api(`/api/calendar/admin/slots?start_date=${isoDate(from)}&end_date=${isoDate(to)}`);
  const list = view.querySelector('#slot-list');
  if (!r.ok) return say(list, problem(r));
  if (!r.data.length) { setHtml(list, html`<p class="muted">No departures in this period. Create a schedule and generate its slots.</p>`); return; }
  const byDay = {};
  r.data.forEach((s) => (byDay[s.slot_date] ||= []).push(s));
  setHtml(list, html`${Object.entries(byDay).map(([day, slots]) => html`<h2>${formatDate(day, { weekday: 'long', day: 'numeric', month: 'long' })}</h2>
    <div class="table-wrap"><table><thead><tr><th>Time</th><th>Tour</th><th>Occupancy</th><th>Price</th><th>State</th><th class="no-print">Actions</th></tr></thead><tbody>
    ${slots.map((s) => {
      const booked = (100 * s.current_bookings) / s.max_capacity, held = (100 * s.held_spots) / s.max_capacity;
      const state = s.is_cancelled ? `cancelled${s.cancellation_reason ? `: ${s.cancellation_reason}` : ''}` : s.is_available ? 'open' : 'closed';
      return html`<tr data-slot="${s.id}"><td>${formatTime(s.start_time)}–${formatTime(s.end_time)}</td><td>${tourName(s.tour_id)}</td>
        <td><div class="bar" role="img" aria-label="${s.current_bookings} booked, ${s.held_spots} held of ${s.max_capacity}"><span data-share="${booked}"></span></div>
          <span class="muted">${s.current_bookings} booked${s.held_spots ? `, ${s.held_spots} held` : ''} / ${s.max_capacity} · ${s.available_spots} left</span></td>
        <td>${money(s.price_per_person, s.currency)}</td><td>${state}</td>
        <td class="no-print">${s.is_cancelled ? '' : html`
          <input aria-label="Capacity" type="number" min="1" value="${s.max_capacity}" class="w-5-5rem" data-cap>
          <button class="btn secondary" data-act="cap">Set capacity</button>
          <input aria-label="Price" type="number" min="0" step="0.01" value="${s.price_per_person}" class="w-6-5rem" data-price>
          <button class="btn secondary" data-act="price">Set price</button>
          <button class="btn secondary" data-act="toggle">${s.is_available ? 'Close' : 'Open'}</button>
          <button class="btn secondary" data-act="waitlist">Process waitlist</button>
          <button class="btn danger" data-act="cancel">Cancel departure</button>`}
          <a class="btn secondary" href="#manifest/${s.id}">Manifest</a></td></tr>`;
    })}</tbody></table></div>`)}`);
  // Occupancy through the CSSOM: the page's policy refuses style attributes.
  list.querySelectorAll('.bar > span[data-share]').forEach((bar) => { bar.style.width = `${Math.min(100, Number(bar.dataset.share))}%`; });
  list.querySelectorAll('tr[data-slot]').forEach((row) => row.querySelectorAll('[data-act]').forEach((b) => b.addEventListener('click', async () => {
    const id = row.dataset.slot, slot = r.data.find((s) => String(s.id) === id);
    let res;
    if (b.dataset.act === 'cap') res = await api(`/api/calendar/admin/slots/${id}`, { method: 'PATCH', body: { max_capacity: Number(row.querySelector('[data-cap]').value) } });
    if (b.dataset.act === 'price') res = await api(`/api/calendar/admin/slots/${id}`, { method: 'PATCH', body: { price_per_person: row.querySelector('[data-price]').value } });
    if (b.dataset.act === 'toggle') res = await api(`/api/calendar/admin/slots/${id}`, { method: 'PATCH', body: { is_available: !slot.is_available } });
    if (b.dataset.act === 'waitlist') res = await api(`/api/calendar/admin/slots/${id}/process-waitlist`, { method: 'POST' });
    if (b.dataset.act === 'cancel') {
      const reason = prompt('Why is this departure cancelled? Every booking on it will be cancelled.');
      if (!reason) return;
      res = await api(`/api/calendar/admin/slots/${id}/cancel`, { method: 'POST', body: { reason } });
    }
    if (!res.ok) return flash(problem(res), false);
    flash(b.dataset.act === 'waitlist' ? `${res.data.notified} waitlist entr${res.data.notified === 1 ? 'y' : 'ies'} notified.` : 'Saved.');
    slotsView();
  })));
}

// ---- tours ----
function tourForm(t = {}) {
  return html`<form class="card" data-tour-form="${t.id || ''}" novalidate><h2>${t.id ? `Edit ${t.name}` : 'New tour'}</h2>
    <div class="row"><div><label>Name<input name="name" value="${t.name || ''}" required></label></div>
    <div><label>Duration (minutes)<input name="duration_minutes" type="number" min="1" value="${t.duration_minutes || 180}"></label></div>
    <div><label>Base price<input name="base_price" type="number" min="0" step="0.01" value="${t.base_price ?? ''}"></label></div>
    <div><label>Currency<input name="currency" value="${t.currency || 'USD'}" maxlength="3" class="w-6rem"></label></div>
    <div><label>Time zone<input name="timezone" value="${t.timezone || 'Asia/Jerusalem'}"></label></div>
    <div><label><input name="is_active" type="checkbox" ${t.is_active !== false ? 'checked' : ''}> Active (bookable)</label></div></div>
    <label>Description<textarea name="description">${t.description || ''}</textarea></label>
    <p><button class="btn" type="submit">${t.id ? 'Save tour' : 'Create tour'}</button></p><p data-err></p></form>`;
}

async function toursView() {
  const view = shell('tours', html`<div id="tour-list"></div>${tourForm()}`);
  const render = () => {
    setHtml(view.querySelector('#tour-list'), tours.length ? html`<div class="table-wrap"><table><thead><tr><th>Tour</th><th>Duration</th><th>Price</th><th>Time zone</th><th>Status</th><th></th></tr></thead><tbody>
      ${tours.map((t) => html`<tr><td>${t.name}</td><td>${t.duration_hours} h</td><td>${money(t.base_price, t.currency)}</td><td>${t.timezone}</td>
      <td>${t.is_active ? 'active' : 'inactive'}</td><td><button class="btn secondary" data-edit="${t.id}">Edit</button></td></tr>`)}</tbody></table></div>` : html`<p class="muted">No tours yet.</p>`);
    view.querySelectorAll('[data-edit]').forEach((b) => b.addEventListener('click', () => {
      const t = tours.find((x) => String(x.id) === b.dataset.edit);
      const form = document.createElement('template');
      setHtml(form, tourForm(t));
      view.querySelector('[data-tour-form]').replaceWith(form.content);
      wireForm();
      view.querySelector('[data-tour-form] input').focus();
    }));
  };
  const wireForm = () => view.querySelector('[data-tour-form]').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target, id = f.dataset.tourForm;
    const body = { name: f.name.value, description: f.description.value, duration_minutes: Number(f.duration_minutes.value),
      base_price: f.base_price.value, currency: f.currency.value, timezone: f.timezone.value, is_active: f.is_active.checked };
    const r = await api(id ? `/api/calendar/admin/tours/${id}` : '/api/calendar/admin/tours', { method: id ? 'PUT' : 'POST', body });
    if (!r.ok) return say(f.querySelector('[data-err]'), problem(r));
    await loadTours();
    flash(id ? 'Tour saved.' : `Tour “${r.data.name}” created.`);
    toursView();
  });
  render();
  wireForm();
}

// ---- schedules ----
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
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
      <div><label>Min capacity<input name="min_capacity" type="number" min="0" value="1"></label></div>
      <div><label>Valid from<input name="valid_from" type="date" value="${today}"></label></div>
      <div><label>Valid until<input name="valid_until" type="date"></label></div>
      <div><label>Price override<input name="price_override" type="number" min="0" step="0.01"></label></div></div>
      <p><button class="btn" type="submit">Create schedule</button></p><p data-err></p></form>`);
  view.querySelector('#s-tour').addEventListener('change', (e) => { location.hash = `schedules?tour=${e.target.value}`; });
  const list = view.querySelector('#s-list');
  if (tourId) {
    const r = await api(`/api/calendar/admin/schedules?tour_id=${encodeURIComponent(tourId)}`);
    setHtml(list, r.ok && r.data.length ? html`${r.data.map((s) => html`<article class="card stacked" data-schedule="${s.id}">
      <h2>${s.name} ${s.is_active ? '' : html`<span class="pill">inactive</span>`}</h2>
      <p class="muted">${formatTime(s.start_time)} · ${s.duration_minutes} min · ${s.recurrence}${s.rrule ? ` (${s.rrule})` : ''}
        ${['weekly', 'biweekly'].includes(s.recurrence) ? ' · ' + DAYS.filter((d) => s[d]).map((d) => d.slice(0, 3)).join(', ') : ''}
        · capacity ${s.max_capacity} · from ${s.valid_from}${s.valid_until ? ` to ${s.valid_until}` : ''}${s.price_override ? ` · ${s.price_override}` : ''}</p>
      ${s.is_active ? html`<div class="row"><div><label>From<input type="date" data-from value="${today}"></label></div>
        <div><label>To<input type="date" data-to value="${isoDate(addDays(new Date(), 30))}"></label></div>
        <div><button class="btn secondary" data-act="preview">Preview dates</button> <button class="btn" data-act="generate">Generate slots</button>
        <button class="btn danger" data-act="deactivate">Deactivate</button></div></div>` : ''}
      <div data-out aria-live="polite"></div></article>`)}` : html`<p class="muted">No schedules for this tour yet.</p>`);
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
  view.querySelector('#s-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    const body = { tour_id: Number(view.querySelector('#s-tour').value), name: f.name.value, start_time: `${f.start_time.value}:00`,
      recurrence: f.recurrence.value, max_capacity: Number(f.max_capacity.value), min_capacity: Number(f.min_capacity.value), valid_from: f.valid_from.value };
    DAYS.forEach((d) => { body[d] = f[d].checked; });
    if (f.duration_minutes.value) body.duration_minutes = Number(f.duration_minutes.value);
    if (f.rrule.value.trim()) body.rrule = f.rrule.value.trim();
    if (f.valid_until.value) body.valid_until = f.valid_until.value;
    if (f.price_override.value) body.price_override = f.price_override.value;
    const r = await api('/api/calendar/admin/schedules', { method: 'POST', body });
    if (!r.ok) return say(f.querySelector('[data-err]'), problem(r));
    flash(`Schedule “${r.data.name}” created. Generate its slots below.`);
    location.hash = `schedules?tour=${body.tour_id}&new=${r.data.id}`;
  });
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
  setHtml(view.querySelector('#b-list'), r.ok && r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>Dates</th><th>Tour</th><th>Type</th><th></th></tr></thead><tbody>
    ${r.data.map((b) => html`<tr><td>${b.name}</td><td>${formatDate(b.start_date)} – ${formatDate(b.end_date)}</td><td>${b.tour_id ? tourName(b.tour_id) : 'every tour'}</td>
    <td>${b.blackout_type}</td><td><button class="btn secondary" data-remove="${b.id}">Remove</button></td></tr>`)}</tbody></table></div>` : html`<p class="muted">No active blackouts.</p>`);
  view.querySelectorAll('[data-remove]').forEach((b) => b.addEventListener('click', async () => {
    const res = await api(`/api/calendar/admin/blackouts/${b.dataset.remove}`, { method: 'DELETE' });
    res.ok ? (flash(`Blackout removed; ${res.data.reopened_slots} slot(s) reopened.`), blackoutsView()) : flash(problem(res), false);
  }));
  const form = view.querySelector('#b-form');
  const body = () => ({ tour_id: form.tour_id.value ? Number(form.tour_id.value) : null, start_date: form.start_date.value, end_date: form.end_date.value,
    blackout_type: form.blackout_type.value, name: form.name.value, description: form.description.value });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = view.querySelector('#b-preview');
    const p = await api('/api/calendar/admin/blackouts?dry_run=true', { method: 'POST', body: body() });
    if (!p.ok) { setHtml(out, html`<p class="error" role="alert">${problem(p)}</p>`); return; }
    setHtml(out, html`<p>This cancels <strong>${p.data.cancelled_slots}</strong> empty departure(s).</p>
      ${p.data.conflicts.length ? html`<p class="error">${p.data.conflicts.length} departure(s) hold bookings and stay open for you to decide:</p>
      <ul>${p.data.conflicts.map((c) => html`<li>${formatDate(c.slot_date)} ${formatTime(c.start_time)} · ${tourName(c.tour_id)} · ${c.current_bookings} booked <a href="#manifest/${c.slot_id}">manifest</a></li>`)}</ul>` : html`<p>No booked departures are affected.</p>`}
      <button class="btn" type="button" id="b-confirm">Create blackout</button>`);
    out.querySelector('#b-confirm').addEventListener('click', async () => {
      const c = await api('/api/calendar/admin/blackouts', { method: 'POST', body: body() });
      c.ok ? (flash(`Blackout created; ${c.data.cancelled_slots} slot(s) cancelled.`), blackoutsView()) : setHtml(out, html`<p class="error">${problem(c)}</p>`);
    });
  });
}

// ---- bookings ----
async function bookingsView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const limit = 20, offset = Number(p.get('offset') || 0);
  const view = shell('bookings', html`<form class="row no-print" id="f">
      <div><label>Tour<select name="tour_id">${tourOptions(p.get('tour_id') || '')}</select></label></div>
      <div><label>Status<select name="status_filter"><option value="">Any</option>${['pending', 'confirmed', 'cancelled', 'completed', 'no_show', 'refunded'].map((s) => html`<option ${p.get('status_filter') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
      <div><label>Tour date from<input type="date" name="start_date" value="${p.get('start_date') || ''}"></label></div>
      <div><label>to<input type="date" name="end_date" value="${p.get('end_date') || ''}"></label></div>
      <div><button class="btn" type="submit">Filter</button></div></form><div id="list"><p class="skeleton"></p></div>`);
  view.querySelector('#f').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v));
    location.hash = `bookings?${q}`;
  });
  const q = new URLSearchParams(p);
  q.set('limit', limit); q.set('offset', offset);
  const r = await api(`/api/calendar/admin/bookings?${q}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  const page = (o) => { const n = new URLSearchParams(p); n.set('offset', o); return `#bookings?${n}`; };
  setHtml(list, html`<p class="muted">${r.data.total} booking(s)</p>${r.data.bookings.length ? html`<div class="table-wrap"><table><thead><tr><th>Reference</th><th>Customer</th><th>Tour</th><th>When</th><th>People</th><th>Total</th><th>Status</th></tr></thead><tbody>
    ${r.data.bookings.map((b) => html`<tr><td><a href="#booking/${b.id}">${b.booking_reference}</a></td><td>${b.customer_name}<br><span class="muted">${b.customer_email}</span></td>
    <td>${b.tour_name}</td><td>${formatDate(b.tour_date)} ${formatTime(b.tour_time)}</td><td>${b.total_people}</td><td>${money(b.total_amount, b.currency)}</td>
    <td><span class="pill ${b.status}">${b.status}</span></td></tr>`)}</tbody></table></div>` : ''}
    <p>${offset > 0 ? html`<a class="btn secondary" href="${page(Math.max(0, offset - limit))}">‹ Newer</a>` : ''}
    ${offset + limit < r.data.total ? html`<a class="btn secondary" href="${page(offset + limit)}">Older ›</a>` : ''}</p>`);
}

async function bookingDetail(id) {
  const view = shell('bookings', html`<p class="skeleton"></p>`);
  const [b, hist] = await Promise.all([api(`/api/calendar/bookings/${encodeURIComponent(id)}`), api(`/api/calendar/admin/bookings/${encodeURIComponent(id)}/history`)]);
  if (!b.ok) return say(view, problem(b));
  const x = b.data, next = TRANSITIONS[x.status] || [];
  setHtml(view, html`<p><a href="#bookings">← Bookings</a></p><h1>${x.booking_reference} <span class="pill ${x.status}">${x.status}</span></h1>
    <div class="card"><p><strong>${x.customer_name}</strong> · ${x.customer_email} ${x.customer_phone ? `· ${x.customer_phone}` : ''}</p>
    <p>${x.tour_name} · ${formatDate(x.tour_date)} ${formatTime(x.tour_time)} · ${x.num_adults} adult(s), ${x.num_children} child(ren), ${x.num_infants} infant(s)</p>
    <p>Subtotal ${money(x.subtotal, x.currency)} · tax ${money(x.tax_amount, x.currency)} · <strong>total ${money(x.total_amount, x.currency)}</strong>${x.refund_amount ? ` · refunded ${money(x.refund_amount, x.currency)}` : ''}</p>
    ${[x.special_requirements, x.dietary_restrictions, x.accessibility_needs].filter(Boolean).map((t) => html`<p class="muted">${t}</p>`)}
    <div class="row">${next.length ? next.map((s) => html`<button class="btn ${s === 'cancelled' ? 'danger' : 'secondary'}" data-status="${s}">Mark ${s.replace('_', ' ')}</button>`) : html`<p class="muted">No further status changes.</p>`}</div></div>
    <h2>History</h2><div class="table-wrap"><table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Change</th><th>Reason</th><th>From</th></tr></thead><tbody>
    ${(hist.ok ? hist.data : []).map((e) => html`<tr><td>${new Date(e.created_at).toLocaleString()}</td><td>${e.actor}</td><td>${e.modification_type}</td>
      <td><code>${JSON.stringify(e.old_value || {})}</code> → <code>${JSON.stringify(e.new_value || {})}</code></td><td>${e.reason || ''}</td>
      <td class="muted">${e.ip_address || ''}</td></tr>`)}</tbody></table></div>`);
  view.querySelectorAll('[data-status]').forEach((btn) => btn.addEventListener('click', async () => {
    const reason = btn.dataset.status === 'cancelled' ? prompt('Reason for cancelling?') ?? '' : '';
    const r = await api(`/api/calendar/admin/bookings/${id}/status`, { method: 'POST', body: { status: btn.dataset.status, reason: reason || null } });
    r.ok ? (flash(`Booking ${btn.dataset.status}.`), bookingDetail(id)) : flash(problem(r), false);
  }));
}

// ---- manifest ----
async function manifestView(id) {
  const view = shell('slots', html`<p class="skeleton"></p>`);
  const r = await api(`/api/calendar/admin/slots/${encodeURIComponent(id)}/manifest`);
  if (!r.ok) return say(view, problem(r));
  const m = r.data;
  setHtml(view, html`<h1>Manifest · ${m.tour_name}</h1><p>${formatDate(m.slot.slot_date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })},
    ${formatTime(m.slot.start_time)}–${formatTime(m.slot.end_time)} · <strong>${m.total_people}</strong> of ${m.slot.max_capacity} people</p>
    <p class="no-print"><button class="btn" id="print">Print</button> <button class="btn secondary" id="csv">Download CSV</button></p>
    ${m.bookings.length ? html`<div class="table-wrap"><table><thead><tr><th>Reference</th><th>Name</th><th>Contact</th><th>A</th><th>C</th><th>I</th><th>Total</th><th>Requirements</th><th>Status</th></tr></thead><tbody>
    ${m.bookings.map((b) => html`<tr><td>${b.booking_reference}</td><td>${b.customer_name}</td><td>${b.customer_email}<br>${b.customer_phone || ''}</td>
      <td>${b.num_adults}</td><td>${b.num_children}</td><td>${b.num_infants}</td><td><strong>${b.total_people}</strong></td>
      <td>${join([b.special_requirements, b.dietary_restrictions, b.accessibility_needs].filter(Boolean), html`<br>`)}</td><td>${b.status}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">Nobody is booked on this departure.</p>`}`);
  view.querySelector('#print').addEventListener('click', () => print());
  view.querySelector('#csv').addEventListener('click', async () => {
    const res = await api(`/api/calendar/admin/slots/${encodeURIComponent(id)}/manifest`, { accept: 'text/csv' });
    if (!res.ok) return flash(problem(res), false);
    const url = URL.createObjectURL(new Blob([res.data], { type: 'text/csv' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: `manifest-${m.slot.slot_date}-${id}.csv` });
    document.body.appendChild(a); a.click(); a.remove(); URL.revokeObjectURL(url);
  });
}

// ---- waitlist and notifications ----
async function waitlistView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const view = shell('waitlist', html`<form class="row" id="f"><div><label>Tour<select name="tour_id">${tourOptions(p.get('tour_id') || '')}</select></label></div>
    <div><label>Date<input type="date" name="date" value="${p.get('date') || ''}"></label></div>
    <div><label>Status<select name="status"><option value="">Any</option>${['active', 'notified', 'converted', 'expired', 'cancelled'].map((s) => html`<option ${p.get('status') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
    <div><button class="btn" type="submit">Filter</button></div></form><div id="list"></div>`);
  view.querySelector('#f').addEventListener('submit', (e) => { e.preventDefault(); location.hash = `waitlist?${new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v))}`; });
  const r = await api(`/api/calendar/admin/waitlist?${p}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  setHtml(list, r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>Date</th><th>Tour</th><th>Customer</th><th>People</th><th>Status</th><th>Priority</th></tr></thead><tbody>
    ${r.data.map((e) => html`<tr data-entry="${e.id}"><td>${formatDate(e.requested_date)}</td><td>${tourName(e.tour_id)}</td><td>${e.customer_name}<br><span class="muted">${e.customer_email}</span></td>
    <td>${e.num_people}</td><td><span class="pill ${e.status}">${e.status}</span>${e.notification_expires_at && e.status === 'notified' ? html`<br><span class="muted">until ${new Date(e.notification_expires_at).toLocaleString()}</span>` : ''}</td>
    <td><input type="number" value="${e.priority}" class="w-5rem" aria-label="Priority"> <button class="btn secondary" data-prio>Set</button></td></tr>`)}</tbody></table></div>` : html`<p class="muted">Nobody is waiting.</p>`);
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
    ${r.data.map((n) => html`<tr><td>${new Date(n.created_at).toLocaleString()}</td><td>${n.type}</td><td>${tourName(n.tour_id)}</td>
    <td><code>${JSON.stringify(n.payload)}</code></td><td>${n.delivered_at ? 'yes' : 'queued'}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">No notifications yet.</p>`);
}

// ---- customer email ----
const MESSAGE_STATUS = { queued: 'waiting to be sent', sent: 'sent', dead: 'gave up', held: 'not sent: email is off' };

async function messagesView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const view = shell('messages', html`<form class="row" id="f">
    <div><label>Status<select name="status"><option value="">Any</option>${Object.keys(MESSAGE_STATUS).map((s) => html`<option value="${s}" ${p.get('status') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
    <div><label>Email<input type="email" name="email" value="${p.get('email') || ''}"></label></div>
    <div><button class="btn" type="submit">Filter</button></div></form><div id="list"><p class="skeleton"></p></div>`);
  view.querySelector('#f').addEventListener('submit', (e) => { e.preventDefault(); location.hash = `messages?${new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v))}`; });
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

async function loadTours() {
  const r = await api('/api/calendar/admin/tours');
  tours = r.ok ? r.data : [];
}

async function route() {
  const [name, arg] = location.hash.slice(1).split('?')[0].split('/');
  switch (name) {
    case 'tours': return toursView();
    case 'schedules': return schedulesView();
    case 'blackouts': return blackoutsView();
    case 'bookings': return bookingsView();
    case 'booking': return bookingDetail(arg);
    case 'waitlist': return waitlistView();
    case 'notifications': return notificationsView();
    case 'messages': return messagesView();
    case 'message': return messageDetail(arg);
    case 'manifest': return manifestView(arg);
    default: return slotsView();
  }
}

async function start() {
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
  route();
}

start();
