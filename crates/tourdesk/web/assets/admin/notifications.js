/**
 * The notifications view (#notifications): the outbox's events, newest first,
 * each in words (what happened, to which booking and departure).
 */
import { api, problem, formatDate, formatTime } from '../api.js';
import { html, join, setHtml } from '../html.js';
import { say } from './flash.js';
import { GUARANTEED_BY } from './minimum.js';
import { shell } from './shell.js';
import { tourName } from './state.js';
import { reasonText } from './words.js';

export async function notificationsView() {
  const view = shell('notifications', html`<p class="skeleton"></p>`);
  const r = await api('/api/calendar/admin/notifications?limit=200');
  if (!r.ok) return say(view, problem(r));
  setHtml(view, r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>When</th><th>Type</th><th>Tour</th><th>Details</th>
    <th>Delivered</th></tr></thead><tbody>
    ${r.data.map((n) => html`<tr><td>${new Date(n.created_at).toLocaleString()}</td><td>${eventLabel(n.type)}</td>
    <td>${tourName(n.tour_id)}</td>
    <td>${eventDetails(n.payload || {})}</td><td>${n.delivered_at ? 'yes' : 'queued'}</td></tr>`)}</tbody></table></div>`
    : html`<p class="muted">No notifications yet.</p>`);
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
