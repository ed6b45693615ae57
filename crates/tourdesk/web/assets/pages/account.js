// /account: register, log in, my bookings (change, cancel), my waitlist
// entries (claim when notified, leave). Times are each tour's local times,
// with its zone named. A booking whose departure runs only with enough
// people says where it stands (issue #18).
import { api, session, loggedOutEverywhere, problem, money, formatDay, formatTime, formatInstant, tourInfo } from '../api.js';
import { html, setHtml } from '../html.js';
import { guaranteeNote } from '../booking-calendar.js';

const box = document.getElementById('account');
/** Tour id → its time zone, for the tours on this page. */
let zones = {};

async function loadZones(ids) {
  const unique = [...new Set(ids.map(String))];
  const answers = await Promise.all(unique.map((id) => tourInfo(id)));
  zones = Object.fromEntries(unique.map((id, i) => [id, answers[i].ok ? answers[i].data.timezone : '']));
}

const zoneOf = (tourId) => zones[String(tourId)] || '';

/** The login and registration forms; `message` is an error, `note` a confirmation. */
function loggedOut(message, note) {
  setHtml(box, html`${note ? html`<p class="ok" role="status">${note}</p>` : ''}${message ? html`<p class="error" role="alert">${message}</p>` : ''}
  <div class="grid">
    <form class="card" id="login" novalidate><h2>Log in</h2>
      <label for="l-email">Email</label><input id="l-email" name="email" type="email" autocomplete="username" required>
      <label for="l-password">Password</label><input id="l-password" name="password" type="password" autocomplete="current-password" required>
      <p><button class="btn" type="submit">Log in</button></p><p class="error" role="alert" data-err></p></form>
    <form class="card" id="register" novalidate><h2>Create an account</h2>
      <label for="r-name">Full name</label><input id="r-name" name="name" autocomplete="name" required>
      <label for="r-email">Email</label><input id="r-email" name="email" type="email" autocomplete="email" required>
      <label for="r-phone">Phone <span class="muted">(optional)</span></label><input id="r-phone" name="phone" type="tel" autocomplete="tel">
      <label for="r-password">Password <span class="muted">(at least 10 characters)</span></label><input id="r-password" name="password" type="password" autocomplete="new-password" minlength="10" required>
      <p><button class="btn" type="submit">Create account</button></p><p class="error" role="alert" data-err></p></form>
  </div>`);
  const login = async (email, password, errEl) => {
    const r = await session.login(email, password);
    if (!r.ok) { errEl.textContent = problem(r); return; }
    loggedIn();
  };
  document.getElementById('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.target;
    login(f.email.value, f.password.value, f.querySelector('[data-err]'));
  });
  document.getElementById('register').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    const r = await api('/api/auth/register', { method: 'POST', body: { name: f.name.value, email: f.email.value, password: f.password.value, phone: f.phone.value || null } });
    if (!r.ok) { f.querySelector('[data-err]').textContent = problem(r); return; }
    login(f.email.value, f.password.value, f.querySelector('[data-err]'));
  });
}

/** Where a booking's departure stands on its minimum ('' without a minimum). */
function guaranteeLine(b, changeable) {
  const g = guaranteeNote(b.departure_guarantee, { booking: true, zone: zoneOf(b.tour_id) });
  if (!g || (!changeable && g.status !== 'cancelled')) return '';
  return html`<br><span class="gtee ${g.status}" data-guarantee="${g.status}">${g.status === 'guaranteed' ? html`<span aria-hidden="true">✓ </span>` : ''}${g.text}</span>`;
}

function bookingRow(b) {
  const changeable = b.status === 'pending' || b.status === 'confirmed';
  return html`<tr data-booking="${b.id}"><td><strong>${b.booking_reference}</strong><br>${b.tour_name}</td>
    <td data-when>${formatDay(b.tour_date)}<br>${formatTime(b.tour_time)}${zoneOf(b.tour_id) ? ` (${zoneOf(b.tour_id)})` : ''}</td><td>${b.total_people}</td>
    <td>${money(b.total_amount, b.currency)}</td><td><span class="pill ${b.status}">${b.status.replace('_', ' ')}</span>${guaranteeLine(b, changeable)}</td>
    <td>${changeable ? html`<label class="sr-only" for="a-${b.id}">Adults</label>
      <input id="a-${b.id}" type="number" min="1" max="50" value="${b.num_adults}" class="w-5rem" aria-label="Adults for ${b.booking_reference}">
      <button class="btn secondary" data-resize="${b.id}">Change adults</button>
      <button class="btn danger" data-cancel="${b.id}">Cancel</button>` : ''}</td></tr>`;
}

function entryRow(e, claimId) {
  const notified = e.status === 'notified';
  return html`<tr data-entry="${e.id}" ${String(e.id) === claimId ? html`class="highlight"` : ''}>
    <td>${formatDay(e.requested_date)}</td><td>${e.num_people}</td><td><span class="pill ${e.status}">${e.status}</span>
    ${notified ? html`<br><span class="muted" data-held-until>Held until ${formatInstant(e.notification_expires_at, zoneOf(e.tour_id))}</span>` : ''}</td>
    <td>${notified ? html`<form data-claim="${e.id}" class="row"><div><label for="ca-${e.id}">Adults</label><input id="ca-${e.id}" name="adults" type="number" min="1" max="${e.num_people}" value="${e.num_people}" class="w-5rem"></div>
      <div><label for="cc-${e.id}">Children</label><input id="cc-${e.id}" name="children" type="number" min="0" max="${e.num_people}" value="0" class="w-5rem"></div>
      <div><button class="btn" type="submit">Book these spots</button></div></form>` : ''}
    ${e.status === 'active' || notified ? html`<button class="btn secondary" data-leave="${e.id}">Leave waitlist</button>` : ''}</td></tr>`;
}

/** The account; `wasIn` says the person was logged in a moment ago (a 401 then means the session ended). */
async function loggedIn(note, wasIn = true) {
  const me = await session.me();
  if (!me.ok) return loggedOut(me.status === 401 ? (wasIn ? 'Your session ended; please log in again.' : null) : problem(me));
  const [bookings, entries] = await Promise.all([api('/api/calendar/bookings/user/me'), api('/api/calendar/waitlist/me')]);
  const claimId = new URLSearchParams(location.search).get('claim');
  await loadZones([...(bookings.ok ? bookings.data : []), ...(entries.ok ? entries.data : [])].map((x) => x.tour_id));
  setHtml(box, html`<div class="row account-bar"><p>Logged in as <strong>${me.data.name}</strong> (${me.data.email})</p>
    <p><button class="btn secondary" type="button" id="logout">Log out</button>
    <button class="btn secondary" type="button" id="logout-all">Log out everywhere</button></p></div>
    ${note ? html`<p class="ok" role="status">${note}</p>` : ''}<p id="acct-error" class="error" role="alert"></p>
    <h2>My bookings</h2>${bookings.ok && bookings.data.length ? html`<div class="table-wrap"><table><thead><tr><th>Booking</th><th>When</th><th>People</th><th>Total</th><th>Status</th><th>Actions</th></tr></thead>
      <tbody>${bookings.data.map(bookingRow)}</tbody></table></div>` : html`<p class="muted">No bookings yet. <a href="/">Find a tour</a>.</p>`}
    <h2>My waitlist</h2>${entries.ok && entries.data.length ? html`<div class="table-wrap"><table><thead><tr><th>Date</th><th>People</th><th>Status</th><th>Actions</th></tr></thead>
      <tbody>${entries.data.map((e) => entryRow(e, claimId))}</tbody></table></div>` : html`<p class="muted">You are not waiting for any tour.</p>`}`);
  const errEl = document.getElementById('acct-error');
  document.getElementById('logout').addEventListener('click', async () => {
    const r = await session.logout();
    r.ok ? loggedOut(null, 'You are logged out.') : (errEl.textContent = `You are still logged in: ${problem(r)}`);
  });
  document.getElementById('logout-all').addEventListener('click', async () => {
    if (!confirm('Log out on every device and browser where you are logged in, this one included?')) return;
    const r = await session.logoutEverywhere();
    if (r.ok || r.status === 401) loggedOut(null, loggedOutEverywhere(r.data?.sessions_ended));
    else errEl.textContent = `You are still logged in: ${problem(r)}`;
  });
  box.querySelectorAll('[data-resize]').forEach((b) => b.addEventListener('click', async () => {
    const id = b.dataset.resize;
    const r = await api(`/api/calendar/bookings/${id}`, { method: 'PUT', body: { new_num_adults: Number(document.getElementById(`a-${id}`).value) } });
    r.ok ? loggedIn('Booking changed.') : (errEl.textContent = problem(r));
  }));
  box.querySelectorAll('[data-cancel]').forEach((b) => b.addEventListener('click', async () => {
    // Say what comes back, as of now, before anything happens.
    const q = await api(`/api/calendar/bookings/${b.dataset.cancel}/cancellation-quote`);
    const back = q.ok ? ` You will get back ${money(q.data.refund_amount, q.data.currency)} (${q.data.refund_percent} %).` : '';
    if (!confirm(`Cancel this booking?${back}`)) return;
    const r = await api(`/api/calendar/bookings/${b.dataset.cancel}`, { method: 'DELETE', body: {} });
    r.ok ? loggedIn(`Booking cancelled.${r.data.refund_amount != null ? ` Refund: ${money(r.data.refund_amount, r.data.currency)}.` : ''}`) : (errEl.textContent = problem(r));
  }));
  box.querySelectorAll('[data-leave]').forEach((b) => b.addEventListener('click', async () => {
    const r = await api(`/api/calendar/waitlist/${b.dataset.leave}`, { method: 'DELETE' });
    r.ok ? loggedIn('You left the waitlist.') : (errEl.textContent = problem(r));
  }));
  box.querySelectorAll('[data-claim]').forEach((f) => f.addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await api(`/api/calendar/waitlist/${f.dataset.claim}/claim`, { method: 'POST', body: { num_adults: Number(f.adults.value), num_children: Number(f.children.value) } });
    r.ok ? loggedIn(`Booked! Your reference is ${r.data.booking_reference}.`) : (errEl.textContent = problem(r));
  }));
}

loggedIn(null, false);
