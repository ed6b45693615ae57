/**
 * A departure's manifest (#manifest/ID): who is coming, check-in, print and
 * CSV, closing the departure, and its cancelled bookings with their rebook actions.
 */
import { api, problem, formatDate, formatTime } from '../api.js';
import { html, join, setHtml } from '../html.js';
import { affectedTable, wireRebook } from './cancel.js';
import { confirmDialog } from './dialogs.js';
import { saveFile } from './download.js';
import { say, flash } from './flash.js';
import { shell } from './shell.js';
import { reasonText, party } from './words.js';

const checkInLabel = (b) => (b.checked_in_at ? html`<span aria-hidden="true">✓ </span>Checked in` : 'Check in');

export async function manifestView(id) {
  const view = shell('slots', html`<p class="skeleton"></p>`);
  const r = await api(`/api/calendar/admin/slots/${encodeURIComponent(id)}/manifest`);
  if (!r.ok) return say(view, problem(r));
  const m = r.data, s = m.slot;
  const started = Date.parse(s.starts_at) <= Date.now();
  const open = m.bookings.filter((b) => b.status === 'pending' || b.status === 'confirmed');
  setHtml(view, html`<h1>Manifest · ${m.tour_name}</h1><p>${formatDate(s.slot_date,
    { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })},
    ${formatTime(s.start_time)}–${formatTime(s.end_time)} · <strong>${m.total_people}</strong> of ${s.max_capacity} people</p>
    ${s.is_cancelled ? html`<p class="error" role="status">This departure was cancelled${
      s.cancellation_reason ? `: ${reasonText(s.cancellation_reason)}` : ''}.</p>` : ''}
    ${m.bookings.length ? html`<p id="checked-count" aria-live="polite"></p>` : ''}
    <p class="no-print actions"><button class="btn secondary" id="print">Print</button> <button class="btn secondary"
      id="csv">Download CSV</button>
    ${!s.is_cancelled && open.length
      ? html`<button class="btn" id="close-departure" aria-describedby="close-note">Close departure</button>` : ''}</p>
    ${!s.is_cancelled && open.length ? html`<p class="muted no-print" id="close-note">${
      started ? '' : 'Once the departure has started, '}“Close departure” marks the checked-in bookings completed and the confirmed ones
      not checked in no-show.</p>` : ''}
    ${m.bookings.length ? html`<div class="table-wrap"><table class="manifest stack-on-phone" id="manifest"><thead><tr>
    <th scope="col">Name</th><th scope="col">Party</th><th scope="col">Contact</th><th scope="col">Requirements</th>
    <th scope="col">Status</th><th scope="col">Check-in</th></tr></thead><tbody>
    ${m.bookings.map((b) => html`<tr data-booking="${b.booking_id}" class="${b.checked_in_at ? 'checked-in' : ''}">
      <td data-label="Name"><strong>${b.customer_name}</strong><br><a class="muted"
        href="#booking/${b.booking_id}">${b.booking_reference}</a></td>
      <td data-label="Party"><strong>${b.total_people}</strong> <span class="muted">(${party(b)})</span></td>
      <td data-label="Contact">${b.customer_phone ? html`<a href="tel:${b.customer_phone}">${b.customer_phone}</a><br>` : ''}<span
        class="break-all">${b.customer_email}</span></td>
      <td data-label="Needs">${join([b.special_requirements, b.dietary_restrictions, b.accessibility_needs].filter(Boolean),
        html`<br>`)}</td>
      <td data-label="Status"><span class="pill ${b.status}">${b.status.replace('_', ' ')}</span></td>
      <td data-label="Check-in">${b.status === 'pending' || b.status === 'confirmed'
        ? html`<button class="btn checkin" type="button" data-checkin
          aria-pressed="${b.checked_in_at ? 'true' : 'false'}">${checkInLabel(b)}<span class="sr-only"> ${b.customer_name}</span></button>`
        : html`<span class="muted">${b.checked_in_at ? 'came' : ''}</span>`}</td></tr>`)}</tbody></table></div>`
      : html`<p class="muted">Nobody is booked on this departure.</p>`}
    ${m.cancelled_bookings.length
      ? html`<section class="stacked" aria-labelledby="cancelled-title"><h2 id="cancelled-title">Cancelled bookings</h2>
      <p class="muted">They were emailed the cancellation. “Rebook…” makes a new booking for the same party on another departure
        and emails its confirmation.</p>
      ${affectedTable(m.cancelled_bookings, s.tour_id)}</section>` : ''}`);
  const count = () => {
    const el = view.querySelector('#checked-count');
    if (!el) return;
    const inn = m.bookings.filter((b) => b.checked_in_at);
    el.textContent = `${inn.reduce((n, b) => n + b.total_people, 0)} of ${m.total_people} people checked in `
      + `(${inn.length} of ${m.bookings.length} bookings).`;
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
      `${inn} checked-in booking(s) become completed; ${open.filter((b) => !b.checked_in_at && b.status === 'confirmed').length} `
        + 'confirmed booking(s) not checked in become no-show. Pending bookings not checked in stay as they are.',
      'Close departure', e.target);
    if (!ok) return;
    const res = await api(`/api/calendar/admin/slots/${encodeURIComponent(id)}/close`, { method: 'POST' });
    if (!res.ok) return flash(problem(res), false);
    flash(`Departure closed: ${res.data.completed} completed, ${res.data.no_show} no-show${
      res.data.left_pending ? `, ${res.data.left_pending} pending left as they are` : ''}.`);
    manifestView(id);
  });
}
