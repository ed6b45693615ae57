// /manage: reference + email → the booking, via the lookup and its manage
// token: view it, change party size or time, cancel with a reason.
// /manage?waitlist=ID#token=T (the link in a waitlist offer email): the
// entry, its held spots and their expiry; claim them or leave the list.
// Every time is the tour's local time, with its zone named. A departure that
// runs only with enough people says where it stands (issue #18).
import { api, problem, money, formatDay, formatLocal, formatInstant, formatTime, tourInfo } from '../api.js';
import { html, setHtml } from '../html.js';
import { guaranteeNote } from '../booking-calendar.js';

const form = document.getElementById('lookup');
const out = document.getElementById('booking');
const err = document.getElementById('lookup-error');
let booking = null;
let token = null;
let zone = ''; // the tour's time zone

/** The time zone of tour `id` ('' when it cannot be read). */
async function zoneOf(id) {
  const r = await tourInfo(id);
  return r.ok ? r.data.timezone : '';
}

function statusPill(s) {
  return html`<span class="pill ${s}">${s.replace('_', ' ')}</span>`;
}

/** Why a booking was cancelled, in words (the reason the system records, or the operator's). */
function cancelReason(reason) {
  return reason === 'minimum_not_reached' ? 'the departure did not reach its minimum number of travellers' : reason;
}

/** Where the booking's departure stands on its minimum, as a paragraph ('' without a minimum). */
function guaranteeLine(b) {
  const active = b.status === 'pending' || b.status === 'confirmed';
  const g = guaranteeNote(b.departure_guarantee, { booking: true, zone });
  if (!g || (!active && g.status !== 'cancelled')) return '';
  return html`<p class="gtee ${g.status}" data-guarantee="${g.status}">${g.status === 'guaranteed' ? html`<span aria-hidden="true">✓ </span>` : ''}${g.text}</p>`;
}

function render(note) {
  const b = booking;
  const changeable = b.status === 'pending' || b.status === 'confirmed';
  setHtml(out, html`<article class="card" data-booking="${b.id}">
    <h2>${b.tour_name} ${statusPill(b.status)}</h2>
    ${note ? html`<p class="ok" role="status">${note}</p>` : ''}
    <p><strong data-reference>${b.booking_reference}</strong></p>
    <p data-when>${formatDay(b.tour_date, true)}, ${formatTime(b.tour_time)}–${formatTime(b.tour_end_time)}${zone ? ` (${zone})` : ''}</p>
    <p>${b.num_adults} adult(s), ${b.num_children} child(ren), ${b.num_infants} infant(s) · total <strong data-total>${money(b.total_amount, b.currency)}</strong></p>
    ${guaranteeLine(b)}
    ${b.cancellation_reason ? html`<p class="muted">Cancelled: ${cancelReason(b.cancellation_reason)}</p>` : ''}
    ${b.refund_amount != null ? html`<p data-refunded>Refund: <strong>${money(b.refund_amount, b.currency)}</strong></p>` : ''}
    ${Number(b.reduction_refund_amount) > 0 ? html`<p class="muted" data-reduction-refund>Refunded for people removed: ${money(b.reduction_refund_amount, b.currency)}</p>` : ''}
    ${changeable ? html`
    <h3>Change party size</h3>
    <form id="party" class="row" novalidate>
      <div><label for="m-adults">Adults</label><input id="m-adults" type="number" min="1" max="50" value="${b.num_adults}"></div>
      <div><label for="m-children">Children</label><input id="m-children" type="number" min="0" max="50" value="${b.num_children}"></div>
      <div><label for="m-infants">Infants</label><input id="m-infants" type="number" min="0" max="50" value="${b.num_infants}"></div>
      <div><button class="btn" type="submit">Save party size</button></div>
    </form>
    <h3>Change date or time</h3>
    <booking-calendar tour-id="${b.tour_id}" initial-date="${b.tour_date}"></booking-calendar>
    <p><button class="btn secondary" id="move" disabled>Move to the chosen departure</button></p>
    <h3>Cancel</h3>
    <div id="refund-quote" data-refund-quote aria-live="polite"><p class="skeleton w-60"></p></div>
    <form id="cancel" novalidate>
      <label for="reason">Reason <span class="muted">(optional)</span></label><input id="reason" maxlength="1000">
      <p><button class="btn danger" type="submit">Cancel this booking</button></p>
    </form>` : ''}
    <p id="action-error" class="error" role="alert"></p>
  </article>`);
  wire();
}

/** "at least 72 h before: 100 %" lines of a policy. */
function policyLines(tiers) {
  return tiers.map((t, i) => {
    const upper = i > 0 ? tiers[i - 1].min_hours_before : null;
    const when = upper === null ? `${t.min_hours_before} h or more before`
      : t.min_hours_before === 0 ? `less than ${upper} h before` : `${t.min_hours_before}–${upper} h before`;
    return html`<li>${when}: ${t.refund_percent} % back</li>`;
  });
}

/** The refund quote for the booking now; shown above the cancel button. */
async function showQuote() {
  const box = document.getElementById('refund-quote');
  if (!box) return null;
  const r = await api(`/api/calendar/bookings/${booking.id}/cancellation-quote`, { manageToken: token });
  if (!r.ok) { setHtml(box, html`<p class="muted">${problem(r)}</p>`); return null; }
  const q = r.data;
  const fee = Number(q.fee) > 0 ? html` (after a ${money(q.fee, q.currency)} fee)` : '';
  setHtml(box, html`<p>If you cancel now you get back <strong data-refund-amount>${money(q.refund_amount, q.currency)}</strong>
      of ${money(q.total_amount, q.currency)} (${q.refund_percent} %)${fee}.</p>
    ${q.tier_ends_at ? html`<p data-refund-drops>That holds until ${formatInstant(q.tier_ends_at, q.timezone)}; after that it drops to ${q.next_refund_percent} % (${money(q.next_refund_amount, q.currency)}).</p>` : ''}
    ${q.cancellable ? '' : html`<p class="error">${q.message}</p>`}
    <details><summary>Cancellation policy</summary><ul>${policyLines(q.policy)}</ul></details>`);
  return q;
}

function wire() {
  const actionError = document.getElementById('action-error');
  showQuote();
  document.getElementById('party')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (id) => Number(document.getElementById(id).value || 0);
    const r = await api(`/api/calendar/bookings/${booking.id}`, { method: 'PUT', manageToken: token,
      body: { new_num_adults: v('m-adults'), new_num_children: v('m-children'), new_num_infants: v('m-infants') } });
    if (r.ok) { booking = r.data.booking; render('Party size changed.'); } else actionError.textContent = problem(r);
  });
  let chosen = null;
  const cal = out.querySelector('booking-calendar');
  cal?.addEventListener('slot-select', (e) => {
    chosen = e.detail.slot;
    const move = document.getElementById('move');
    move.disabled = chosen.id === booking.booking_slot_id;
    move.textContent = `Move to ${formatLocal(e.detail.date, chosen.start_time, zone)}`;
  });
  document.getElementById('move')?.addEventListener('click', async () => {
    if (!chosen) return;
    const r = await api(`/api/calendar/bookings/${booking.id}`, { method: 'PUT', manageToken: token, body: { new_slot_id: chosen.id } });
    if (r.ok) { booking = r.data.booking; render('Moved to the new departure.'); } else actionError.textContent = problem(r);
  });
  document.getElementById('cancel')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    // The amount as of this moment: a tier may have ended since the page
    // was drawn.
    const q = await showQuote();
    const back = q ? ` You will get back ${money(q.refund_amount, q.currency)} (${q.refund_percent} %).` : '';
    if (!confirm(`Cancel this booking?${back}`)) return;
    const reason = document.getElementById('reason').value.trim();
    const r = await api(`/api/calendar/bookings/${booking.id}`, { method: 'DELETE', manageToken: token,
      body: reason ? { cancellation_reason: reason } : {} });
    if (r.ok) { booking = r.data; render('Your booking is cancelled.'); } else actionError.textContent = problem(r);
  });
}

async function lookup(reference, email) {
  err.textContent = '';
  setHtml(out, html`<div class="card"><p class="skeleton w-60"></p><p class="skeleton"></p></div>`);
  const r = await api(`/api/calendar/bookings/reference/${encodeURIComponent(reference.trim().toUpperCase())}?email=${encodeURIComponent(email.trim())}`);
  if (!r.ok) {
    out.replaceChildren();
    err.textContent = r.status === 404 ? 'No booking matches this reference and email.' : problem(r);
    return;
  }
  booking = r.data;
  token = r.data.manage_token;
  zone = await zoneOf(booking.tour_id);
  render();
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const reference = form.reference.value, email = form.email.value;
  if (!reference.trim() || !email.trim()) { err.textContent = 'Enter both the reference and the email.'; return; }
  lookup(reference, email);
});

// ---- a waitlist entry, from the link in its offer email ----
async function showEntry(id, entryToken, note) {
  const r = await api(`/api/calendar/waitlist/${encodeURIComponent(id)}`, { manageToken: entryToken });
  if (!r.ok) {
    out.replaceChildren();
    err.textContent = r.status === 404 ? 'This waitlist link no longer opens anything: it may have expired.' : problem(r);
    return;
  }
  const w = r.data;
  zone = await zoneOf(w.tour_id);
  const until = w.notification_expires_at ? new Date(w.notification_expires_at) : null;
  const claimable = w.status === 'notified' && until && until > new Date();
  setHtml(out, html`<article class="card" data-entry="${w.id}">
    <h2>Waitlist ${statusPill(w.status)}</h2>
    ${note ? html`<p class="ok" role="status">${note}</p>` : ''}
    <p>${formatDay(w.requested_date, true)} · ${w.num_people} ${w.num_people === 1 ? 'person' : 'people'} · ${w.customer_name}</p>
    ${claimable ? html`<p><strong data-held-until>${w.num_people} spot(s) are held for you until ${formatInstant(w.notification_expires_at, zone)}.</strong></p>
    <form id="claim" class="row" novalidate>
      <div><label for="c-adults">Adults</label><input id="c-adults" type="number" min="1" max="${w.num_people}" value="${w.num_people}"></div>
      <div><label for="c-children">Children</label><input id="c-children" type="number" min="0" max="${w.num_people}" value="0"></div>
      <div><label for="c-infants">Infants</label><input id="c-infants" type="number" min="0" max="${w.num_people}" value="0"></div>
      <div><button class="btn" type="submit">Claim and book</button></div>
    </form>` : w.status === 'active' ? html`<p>You are on the list; we will write as soon as spots free up.</p>` : ''}
    ${w.status === 'active' || w.status === 'notified' ? html`<p><button class="btn secondary" id="leave">Leave the waitlist</button></p>` : ''}
    <p id="action-error" class="error" role="alert"></p>
  </article>`);
  const actionError = document.getElementById('action-error');
  document.getElementById('claim')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = (sel) => Number(document.getElementById(sel).value);
    const res = await api(`/api/calendar/waitlist/${w.id}/claim`, { method: 'POST', manageToken: entryToken,
      body: { num_adults: n('c-adults'), num_children: n('c-children'), num_infants: n('c-infants') } });
    if (!res.ok) { actionError.textContent = problem(res); return; }
    booking = res.data;
    token = res.data.manage_token || entryToken;
    render('Booked. Keep your booking reference.');
  });
  document.getElementById('leave')?.addEventListener('click', async () => {
    const res = await api(`/api/calendar/waitlist/${w.id}`, { method: 'DELETE', manageToken: entryToken });
    if (!res.ok) { actionError.textContent = problem(res); return; }
    showEntry(id, entryToken, 'You have left the waitlist.');
  });
}

const params = new URLSearchParams(location.search);
const entryToken = new URLSearchParams(location.hash.slice(1)).get('token');
if (params.get('waitlist') && entryToken) {
  showEntry(params.get('waitlist'), entryToken);
}
if (params.get('reference') && params.get('email')) {
  form.reference.value = params.get('reference');
  form.email.value = params.get('email');
  lookup(params.get('reference'), params.get('email'));
}
