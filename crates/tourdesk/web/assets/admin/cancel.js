/**
 * Cancelling a departure: the dialog asking why (the customers are told),
 * then the view of what it did, with the affected bookings and a rebook action
 * for each (also shown on a cancelled departure's manifest).
 */
import { api, problem, formatDate, formatTime } from '../api.js';
import { html, setHtml } from '../html.js';
import { openDialog } from './dialogs.js';
import { movePicker } from './move.js';
import { shell } from './shell.js';
import { tourName } from './state.js';
import { party } from './words.js';

/** Asks why (customers are told), cancels, then shows who was affected. */
export function cancelDeparture(slot, opener) {
  const when = `${formatDate(slot.slot_date)} ${formatTime(slot.start_time)}`;
  const dlg = openDialog('cd-title', html`<form id="cd-form" novalidate>
    <h2 id="cd-title">Cancel the ${when} departure of ${tourName(slot.tour_id)}?</h2>
    <p>${slot.current_bookings
      ? `Every booking on it (${slot.current_bookings} ${slot.current_bookings === 1 ? 'person' : 'people'}) is cancelled, `
        + 'and each customer is emailed the reason.'
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
    if (!reason.value.trim()) {
      reason.setAttribute('aria-invalid', 'true');
      err.textContent = 'Give a reason: it is sent to the customers.';
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const res = await api(`/api/calendar/admin/slots/${slot.id}/cancel`, { method: 'POST', body: { reason: reason.value.trim() } });
    button.disabled = false;
    if (!res.ok) { err.textContent = problem(res); return; }
    dlg.close();
    cancelledView(res.data);
  });
}

/**
 * The bookings a cancelled departure had, with how to reach each customer
 * and a rebook action (a new booking on another departure of the tour).
 */
export function affectedTable(list, tourId) {
  return html`<div class="table-wrap"><table id="affected" class="stack-on-phone"><caption class="sr-only">Affected bookings</caption>
    <thead><tr><th scope="col">Reference</th><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Phone</th>
    <th scope="col">Party</th><th scope="col" class="no-print">Rebook</th></tr></thead><tbody>
    ${list.map((b) => html`<tr data-affected="${b.booking_id}" data-people="${b.total_people}" data-tour="${tourId}">
      <td data-label="Reference"><a href="#booking/${b.booking_id}">${b.booking_reference}</a></td>
      <td data-label="Name">${b.customer_name}</td>
      <td data-label="Email"><a href="mailto:${b.customer_email}">${b.customer_email}</a></td>
      <td data-label="Phone">${b.customer_phone
        ? html`<a href="tel:${b.customer_phone}">${b.customer_phone}</a>` : html`<span class="muted">none given</span>`}</td>
      <td data-label="Party">${party(b)}</td>
      <td class="no-print"><button class="btn secondary" type="button" data-rebook
        aria-expanded="false">Rebook…<span class="sr-only"> ${b.customer_name}</span></button>
        <div data-picker></div></td></tr>`)}</tbody></table></div>`;
}

/** Wires the rebook buttons of an `affectedTable`. */
export function wireRebook(root) {
  root.querySelectorAll('tr[data-affected]').forEach((row) => {
    const button = row.querySelector('[data-rebook]'), host = row.querySelector('[data-picker]');
    button.addEventListener('click', () => {
      const open = button.getAttribute('aria-expanded') !== 'true';
      button.setAttribute('aria-expanded', String(open));
      if (!open) { setHtml(host, html``); return; }
      movePicker(host, { tourId: Number(row.dataset.tour), people: Number(row.dataset.people) }, async (to) => {
        const r = await api(`/api/calendar/admin/bookings/${row.dataset.affected}/rebook`,
          { method: 'POST', body: { booking_slot_id: to.id } });
        if (!r.ok) return r;
        button.remove();
        setHtml(host, html`<p class="ok" role="status" data-rebooked>Rebooked as <a
          href="#booking/${r.data.id}">${r.data.booking_reference}</a>
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
    <p>${tourName(s.tour_id)}, ${formatDate(s.slot_date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })} ${
      formatTime(s.start_time)}.
      Reason: ${s.cancellation_reason || ''}</p>
    ${list.length ? html`<p><strong>${list.length} booking${list.length === 1 ? ' was' : 's were'} cancelled.</strong>
      Each customer is emailed the cancellation with your reason (see <a href="#messages">Messages</a>).
      Offer them another departure: “Rebook…” makes a new booking for the same party and contact, and emails them its confirmation.</p>
      ${affectedTable(list, s.tour_id)}` : html`<p>No bookings were on it.</p>`}
    <p class="no-print"><a class="btn secondary" href="#manifest/${s.id}">Manifest</a></p></section>`);
  wireRebook(view);
  view.querySelector('#cr-title').focus();
}
