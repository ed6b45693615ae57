/**
 * Moving or rebooking a booking: the picker of a tour's departures with their
 * free places, 60 days at a time (the booking view and the rebook actions).
 */
import { api, problem, isoDate, formatDate, formatTime } from '../api.js';
import { html, setHtml } from '../html.js';
import { addDays } from './dates.js';
import { say } from './flash.js';
import { tourName } from './state.js';

const closedWhy = (s, people) => (s.is_cancelled ? 'cancelled' : !s.is_available ? 'closed'
  : s.available_spots < people ? `only ${s.available_spots} free` : '');

/**
 * The departures of a tour (from `from`, 60 days at a time) with their free
 * places, as buttons; `choose(slot)` acts on the one picked and answers the
 * API's response (an error is shown under the list).
 */
export async function movePicker(host, opts, choose) {
  const { tourId, people, currentSlotId } = opts;
  const from = opts.from || new Date(), to = addDays(from, 59);
  setHtml(host, html`<p class="skeleton"></p>`);
  const r = await api(`/api/calendar/admin/slots?start_date=${isoDate(from)}&end_date=${isoDate(to)}`);
  if (!r.ok) return say(host, problem(r));
  const now = Date.now();
  const slots = r.data.filter((s) => s.tour_id === tourId && s.id !== currentSlotId && Date.parse(s.starts_at) > now);
  setHtml(host, html`<div class="move-picker" role="group" aria-label="Departures of ${tourName(tourId)}">
    <p class="muted">Departures from ${formatDate(isoDate(from))} to ${formatDate(isoDate(to))} with their free places; the party needs ${
      people}.</p>
    ${slots.length ? html`<ul class="slot-choices">${slots.map((s) => {
      const why = closedWhy(s, people);
      return html`<li><button type="button" class="btn secondary slot-choice" data-to="${s.id}" ${why ? 'disabled' : ''}>
        ${formatDate(s.slot_date)} ${formatTime(s.start_time)} · <span data-free>${s.available_spots} free</span>${
          why ? html` · ${why}` : ''}</button></li>`;
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
