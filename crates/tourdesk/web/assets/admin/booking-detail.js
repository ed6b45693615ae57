/**
 * A booking's view (#booking/ID): its details, its status moves, the contact
 * and party forms, moving or rebooking it, and its history in words.
 */
import { api, problem, money, formatDate, formatTime } from '../api.js';
import { html, raw, setHtml } from '../html.js';
import { say, flash } from './flash.js';
import { clearErrors, formProblem } from './forms.js';
import { GUARANTEED_BY } from './minimum.js';
import { movePicker } from './move.js';
import { shell } from './shell.js';
import { party } from './words.js';

const TRANSITIONS = { pending: ['confirmed', 'cancelled'], confirmed: ['completed', 'no_show', 'cancelled'], cancelled: ['refunded'] };
const KIND_LABELS = {
  created: 'Booked', party_change: 'Party changed', date_change: 'Moved to another departure',
  date_and_party_change: 'Moved, party changed',
  contact_change: 'Contact details changed', cancellation: 'Cancelled', status_change: 'Status changed', check_in: 'Checked in',
  check_in_undone: 'Check-in undone', rebooked: 'Rebooked on another departure', departure_guaranteed: 'Departure guaranteed',
  decision_deadline_moved: 'Decision deadline moved',
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
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch { /* unknown currency */ }
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
const actorName = (e) => e.actor_name
  || (e.actor === 'guest' ? 'The customer (guest)' : e.actor === 'system' ? 'Tourdesk (automatic)' : e.actor);

/** One history row's change, in words. */
function historyChange(e, currency) {
  const nv = e.new_value || {};
  if (e.modification_type === 'created') {
    return html`${party(nv) || `${nv.total_people} people`} on ${fieldValue('tour_date', nv.tour_date)} ${
      fieldValue('tour_time', nv.tour_time)}, ${fieldValue('total_amount', nv.total_amount, currency)}`;
  }
  if (e.modification_type === 'departure_guaranteed') {
    const by = GUARANTEED_BY[nv.guaranteed_by] || nv.guaranteed_by || 'guaranteed';
    const count = nv.booked !== undefined && nv.min_capacity !== undefined
      ? `: ${nv.booked} booked of a minimum of ${nv.min_capacity}` : '';
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
  return html`<ul class="changes">${shown.map((c) => html`<li><span class="change-field">${FIELD_LABELS[c.field]}:</span> ${
    fieldValue(c.field, c.from, currency)} → <strong>${fieldValue(c.field, c.to, currency)}</strong></li>`)}${refunds}</ul>`;
}

/** How a refund was worked out (issue #18): the policy's tier, an admin's override, or in full. */
function refundLines(nv, currency) {
  const out = [];
  const r = nv.refund;
  if (r) {
    const amount = minorMoney(r.refund_amount, currency);
    const why = r.rule === 'policy'
      ? `policy: ${r.refund_percent} % (${r.tier_min_hours_before} h or more before)${
        r.fee ? `, less a ${minorMoney(r.fee, currency)} fee` : ''}`
      : r.rule === 'admin_override'
        ? `set by the operator (the policy gave ${minorMoney(r.policy_refund_amount, currency)}): ${r.override_reason}`
      : r.rule === 'departure_cancelled' ? 'in full: the departure was cancelled'
      : r.rule === 'minimum_not_reached' ? 'in full: the departure did not reach its minimum' : r.rule;
    out.push(html`<li><span class="change-field">Refund:</span> <strong>${amount}</strong> <span class="muted">(${why})</span></li>`);
  }
  const d = nv.reduction_refund;
  if (d) {
    out.push(html`<li><span class="change-field">Refund for people removed:</span> <strong>${
      minorMoney(d.refund_amount, currency)}</strong> <span class="muted">(${d.refund_percent} % of ${
      minorMoney(d.removed_amount, currency)})</span></li>`);
  }
  return out;
}

function contactForm(x) {
  const field = (name, label, value, type = 'text', extra = '') => html`<label for="ct-${name}">${label}</label>
    <input id="ct-${name}" name="${name}" type="${type}" value="${value || ''}" ${raw(extra)} aria-describedby="ct-${name}-err">
    <p class="field-error" id="ct-${name}-err" data-field-err="${name}"></p>`;
  return html`<form class="card stacked" id="contact-form" novalidate hidden
    aria-labelledby="ct-title"><h2 id="ct-title">Contact details</h2>
    ${field('customer_name', 'Name', x.customer_name, 'text', 'autocomplete="off" required')}
    ${field('customer_email', 'Email', x.customer_email, 'email', 'autocomplete="off" required')}
    ${field('customer_phone', 'Phone', x.customer_phone, 'tel', 'autocomplete="off"')}
    ${field('special_requirements', 'Special requirements', x.special_requirements)}
    ${field('dietary_restrictions', 'Dietary restrictions', x.dietary_restrictions)}
    ${field('accessibility_needs', 'Accessibility needs', x.accessibility_needs)}
    <p class="actions"><button class="btn" type="submit">Save contact details</button><button class="btn secondary" type="button"
      data-cancel>Cancel</button></p>
    <p class="error" role="alert" data-err></p></form>`;
}

function partyForm(x) {
  const n = (name, label, value, min) => html`<div><label for="pt-${name}">${label}</label>
    <input id="pt-${name}" name="${name}" type="number" min="${min}" value="${value}" class="w-6rem" aria-describedby="pt-${name}-err">
    <p class="field-error" id="pt-${name}-err" data-field-err="${name}"></p></div>`;
  return html`<form class="card stacked" id="party-form" novalidate hidden aria-labelledby="pt-title"><h2 id="pt-title">Party</h2>
    <div class="row">${n('new_num_adults', 'Adults', x.num_adults, 1)}${n('new_num_children', 'Children', x.num_children, 0)}${
      n('new_num_infants', 'Infants', x.num_infants, 0)}</div>
    <p class="muted">The price follows the party at the booked price per person; a larger party needs free places on the departure.</p>
    <p class="actions"><button class="btn" type="submit">Save party</button><button class="btn secondary" type="button"
      data-cancel>Cancel</button></p>
    <p class="error" role="alert" data-err></p></form>`;
}


export async function bookingDetail(id) {
  const view = shell('bookings', html`<p class="skeleton"></p>`);
  const [b, hist] = await Promise.all([api(`/api/calendar/bookings/${encodeURIComponent(id)}`),
    api(`/api/calendar/admin/bookings/${encodeURIComponent(id)}/history`)]);
  if (!b.ok) return say(view, problem(b));
  const x = b.data, next = TRANSITIONS[x.status] || [];
  const changeable = x.status === 'pending' || x.status === 'confirmed';
  setHtml(view, html`<p class="no-print"><a href="#bookings">← Bookings</a></p><h1>${x.booking_reference} <span
    class="pill ${x.status}">${x.status}</span></h1>
    <div class="card stacked" id="booking-card"><p><strong id="b-name">${x.customer_name}</strong> · <a
      href="mailto:${x.customer_email}">${x.customer_email}</a>${
      x.customer_phone ? html` · <a href="tel:${x.customer_phone}">${x.customer_phone}</a>` : ''}</p>
    <p id="b-when">${x.tour_name} · ${formatDate(x.tour_date)} ${formatTime(x.tour_time)} · <span id="b-party">${party(x)}</span></p>
    <p>Subtotal ${money(x.subtotal, x.currency)} · tax ${money(x.tax_amount, x.currency)} · <strong>total ${
      money(x.total_amount, x.currency)}</strong>${x.refund_amount ? ` · refunded ${money(x.refund_amount, x.currency)}` : ''}</p>
    ${[x.special_requirements, x.dietary_restrictions, x.accessibility_needs].filter(Boolean).map((t) => html`<p class="muted">${t}</p>`)}
    <div class="row no-print">${changeable ? html`<button class="btn secondary" type="button" id="edit-contact" aria-controls="contact-form"
      aria-expanded="false">Edit contact</button>
      <button class="btn secondary" type="button" id="edit-party" aria-controls="party-form" aria-expanded="false">Change party</button>
      <button class="btn secondary" type="button" id="move" aria-controls="move-picker"
        aria-expanded="false">Move to another departure</button>` : ''}
      ${x.status === 'cancelled' ? html`<button class="btn secondary" type="button" id="move" aria-controls="move-picker"
        aria-expanded="false">Rebook on another departure</button>` : ''}
      ${next.map((s) => html`<button class="btn ${s === 'cancelled' ? 'danger' : 'secondary'}"
        data-status="${s}">Mark ${s.replace('_', ' ')}</button>`)}</div>
    <div id="move-picker"></div></div>
    ${changeable ? html`${contactForm(x)}${partyForm(x)}` : ''}
    <h2>History</h2><div class="table-wrap"><table id="history"><thead><tr><th scope="col">When</th><th scope="col">Who</th>
    <th scope="col">What</th><th scope="col">Change</th><th scope="col">Reason</th></tr></thead><tbody>
    ${(hist.ok ? hist.data : []).map((e) => html`<tr data-kind="${e.modification_type}"><td>${new Date(e.created_at).toLocaleString()}</td>
      <td>${actorName(e)}${e.ip_address ? html`<br><span class="muted">${e.ip_address}</span>` : ''}</td>
      <td>${KIND_LABELS[e.modification_type] || e.modification_type}</td>
      <td>${historyChange(e, x.currency)}</td><td>${e.reason || ''}</td></tr>`)}</tbody></table></div>`);
  view.querySelectorAll('[data-status]').forEach((btn) => btn.addEventListener('click', async () => {
    // Dismissing the reason question means "do not cancel".
    const reason = btn.dataset.status === 'cancelled' ? prompt('Reason for cancelling?') : '';
    if (reason === null) return;
    const r = await api(`/api/calendar/admin/bookings/${id}/status`,
      { method: 'POST', body: { status: btn.dataset.status, reason: reason || null } });
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
    const body = Object.fromEntries(['customer_name', 'customer_email', 'customer_phone', 'special_requirements', 'dietary_restrictions',
      'accessibility_needs']
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
    const r = await api(`/api/calendar/bookings/${id}`, { method: 'PUT', body: { new_num_adults: num('new_num_adults'),
      new_num_children: num('new_num_children'), new_num_infants: num('new_num_infants') } });
    if (!r.ok) return formProblem(f, r);
    flash(`Party changed; the total is now ${money(r.data.booking.total_amount, r.data.booking.currency)}.`);
    bookingDetail(id);
  });
  const move = view.querySelector('#move');
  move?.addEventListener('click', () => {
    const host = view.querySelector('#move-picker'), open = move.getAttribute('aria-expanded') !== 'true';
    move.setAttribute('aria-expanded', String(open));
    if (!open) { setHtml(host, html``); return; }
    const opts = { tourId: x.tour_id, people: x.total_people, currentSlotId: changeable ? x.booking_slot_id : undefined };
    movePicker(host, opts, async (to) => {
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
