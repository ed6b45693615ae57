/**
 * The slots view (#slots, the default): the week as a grid (an agenda on a
 * phone) or the day as a list, each departure with its occupancy, waitlist and
 * minimum, and the panel of a departure with every action on it.
 */
import { api, problem, money, isoDate, parseDate, formatDate, formatTime } from '../api.js';
import { html, raw, setHtml } from '../html.js';
import { cancelDeparture } from './cancel.js';
import { monday, addDays, longDate, shortDate } from './dates.js';
import { openDialog } from './dialogs.js';
import { say, flash } from './flash.js';
import { atRisk, minimumTag, minimumFact, decisionForm, wireDecisionForm, guaranteeDeparture } from './minimum.js';
import { PHONE, setOnLayoutChange, shell, navigate, stillShown } from './shell.js';
import { tourName } from './state.js';
import { reasonText } from './words.js';

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
const occupancyBar = (s) => html`<span class="bar" aria-hidden="true"><span
  data-share="${(100 * s.current_bookings) / s.max_capacity}"></span><span
  class="held" data-share="${(100 * s.held_spots) / s.max_capacity}"></span></span>`;
// Widths through the CSSOM: the page's policy refuses style attributes.
const sizeBars = (root) => root.querySelectorAll('.bar > span[data-share]').forEach((bar) => {
  bar.style.width = `${Math.max(0, Math.min(100, Number(bar.dataset.share)))}%`;
});

/** A departure in the grid or the agenda: a button opening its detail panel. */
function departureCard(s, waiting, withTime) {
  const st = slotStatus(s), w = waitingFor(waiting, s);
  return html`<button type="button" class="dep dep-${st}" data-slot="${s.id}" data-status="${st}" aria-haspopup="dialog">
    ${withTime ? html`<span class="dep-time">${formatTime(s.start_time)}–${formatTime(s.end_time)}</span>` : ''}
    <span class="dep-tour">${tourName(s.tour_id)}</span>
    ${occupancyBar(s)}
    <span class="dep-figures"><span data-occupancy>${s.current_bookings}/${s.max_capacity} booked</span>${
      s.held_spots ? html` <span data-held>· ${s.held_spots} held</span>` : ''}${
      w.people ? html` <span data-waiting>· ${w.people} waiting</span>` : ''}</span>
    ${minimumTag(s)}
    <span class="st st-${st}" data-status-text>${st}</span></button>`;
}

/** The week as a table: days across (Monday first), start times down. */
function weekGrid(days, slots, waiting) {
  const times = [...new Set(slots.map((s) => s.start_time))].sort();
  const today = isoDate(new Date());
  return html`<div class="table-wrap week-wrap"><table class="week-grid" id="week-grid">
    <caption class="sr-only">Departures from ${longDate(days[0])} to ${longDate(days[6])}, by day and start time</caption>
    <thead><tr><th scope="col" class="time-col">Time</th>${days.map((d) =>
      html`<th scope="col" data-day="${d}" class="${d === today ? 'today' : ''}" ${d === today ? raw`aria-current="date"` : ''}><time
        datetime="${d}">${shortDate(d)}</time></th>`)}</tr></thead>
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
    return html`<section class="agenda-day" data-day="${d}" aria-labelledby="ag-${d}"><h2 id="ag-${d}"><time
      datetime="${d}">${longDate(d)}</time></h2>
      ${here.length ? html`<ul class="agenda-list">${here.map((s) => html`<li>${departureCard(s, waiting, true)}</li>`)}</ul>`
        : html`<p class="muted">No departures.</p>`}</section>`;
  })}</div>`;
}

/** The day as a list, with the actions in each row. */
function dayList(slots, waiting) {
  return html`<div class="table-wrap"><table class="stack-on-phone" id="day-list"><thead><tr><th scope="col">Time</th>
    <th scope="col">Tour</th><th scope="col">Occupancy</th><th scope="col">Price</th><th scope="col">State</th>
    <th scope="col" class="no-print">Actions</th></tr></thead><tbody>
    ${slots.map((s) => {
      const w = waitingFor(waiting, s), st = slotStatus(s);
      return html`<tr data-slot="${s.id}"><td data-label="Time">${formatTime(s.start_time)}–${formatTime(s.end_time)}</td>
        <td data-label="Tour">${tourName(s.tour_id)}</td>
        <td data-label="Occupancy"><span><span class="bar" role="img"
          aria-label="${s.current_bookings} booked, ${s.held_spots} held of ${s.max_capacity}"><span
          data-share="${(100 * s.current_bookings) / s.max_capacity}"></span><span
          class="held" data-share="${(100 * s.held_spots) / s.max_capacity}"></span></span>
          <span class="muted">${s.current_bookings} booked${s.held_spots ? `, ${s.held_spots} held` : ''} / ${s.max_capacity} · ${
            s.available_spots} left${w.people ? ` · ${w.people} waiting` : ''}</span></span></td>
        <td data-label="Price">${money(s.price_per_person, s.currency)}</td>
        <td data-label="State"><span class="st st-${st}">${st}</span>${s.is_cancelled && s.cancellation_reason
          ? html` <span class="muted">${reasonText(s.cancellation_reason)}</span>` : ''}${minimumTag(s)}</td>
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
  if (res.ok) res.text = act === 'waitlist'
    ? `${res.data.notified} waitlist entr${res.data.notified === 1 ? 'y' : 'ies'} notified.` : 'Saved.';
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
  const when = `${formatDate(s.slot_date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}, `
    + `${formatTime(s.start_time)}–${formatTime(s.end_time)}`;
  const dlg = openDialog('sd-title', html`<div class="slot-detail" data-slot="${s.id}">
    <h2 id="sd-title">${tourName(s.tour_id)}</h2><p>${when}</p>
    ${occupancyBar(s)}
    <dl class="facts"><dt>Status</dt><dd><span class="st st-${st}" data-status-text>${st}</span>${
      s.cancellation_reason ? html` ${reasonText(s.cancellation_reason)}` : ''}</dd>
      <dt>Booked</dt><dd data-booked>${s.current_bookings} of ${s.max_capacity}</dd>
      ${minimumFact(s)}
      <dt>Held</dt><dd>${s.held_spots} <span class="muted">(offered to the waitlist)</span></dd>
      <dt>Free</dt><dd>${s.available_spots}</dd>
      <dt>Waitlist</dt><dd>${w.entries ? html`${w.entries} entr${w.entries === 1 ? 'y' : 'ies'}, ${w.people} ${
        w.people === 1 ? 'person' : 'people'} <a
        href="#waitlist?tour_id=${s.tour_id}&amp;date=${s.slot_date}&amp;status=active">see them</a>` : 'nobody waiting'}</dd>
      <dt>Price</dt><dd>${money(s.price_per_person, s.currency)} per person</dd></dl>
    ${s.is_cancelled ? '' : html`<form class="row" data-form="cap" novalidate><div><label for="sd-cap">Capacity</label><input id="sd-cap"
        type="number" min="1" value="${s.max_capacity}" class="w-6rem"></div>
        <div><button class="btn secondary" type="submit">Set capacity</button></div></form>
      <form class="row" data-form="price" novalidate><div><label for="sd-price">Price per person (${s.currency})</label><input id="sd-price"
        type="number" min="0" step="0.01" value="${s.price_per_person}" class="w-7rem"></div>
        <div><button class="btn secondary" type="submit">Set price</button></div></form>`}
    ${atRisk(s) ? decisionForm(s, 'sd') : ''}
    <p class="error" role="alert" data-err></p>
    <p class="actions">${atRisk(s) ? html`<button class="btn" type="button" data-act="guarantee">Guarantee departure</button>` : ''}
      ${s.is_cancelled ? '' : html`<button class="btn secondary" type="button"
        data-act="toggle">${s.is_available ? 'Close for booking' : 'Open for booking'}</button>
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
export async function slotsView(focusSlot, act) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const mode = params.get('mode') === 'day' ? 'day' : 'week';
  const asked = params.get('from') && /^\d{4}-\d{2}-\d{2}$/.test(params.get('from')) ? parseDate(params.get('from')) : new Date();
  const from = mode === 'week' ? monday(asked) : asked;
  const to = mode === 'week' ? addDays(from, 6) : from;
  const title = mode === 'week' ? `Departures, week of ${formatDate(isoDate(from), { day: 'numeric', month: 'long', year: 'numeric' })}`
    : `Departures, ${formatDate(isoDate(from), { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}`;
  const view = shell('slots', html`<h1 id="slots-title">${title}</h1><div class="row no-print slot-controls">
      <div><label for="from">${mode === 'week' ? 'Week of' : 'Day'}</label><input id="from" type="date" value="${isoDate(from)}"></div>
      <div class="actions"><button class="btn secondary" type="button"
        data-shift="-1">‹ Previous<span class="sr-only"> ${mode}</span></button><button class="btn secondary" type="button"
        data-shift="1">Next<span class="sr-only"> ${mode}</span> ›</button>
      <button class="btn secondary" type="button"
        data-mode="${mode === 'week' ? 'day' : 'week'}">${mode === 'week' ? 'Day view' : 'Week view'}</button></div></div>
      ${mode === 'week' ? html`<p class="muted legend-line no-print">Each departure shows its tour, booked of capacity, places held for
        waitlist offers, people waiting, and its status. Choose one for its details and actions.</p>` : ''}
      <div id="slot-list" aria-busy="true"><p class="skeleton"></p><p class="skeleton"></p></div>`);
  // The focus stays on the control used (Previous, Next, the date), or goes to the new heading.
  const go = (d, m = mode, focus = '#slots-title') => navigate(`slots?mode=${m}&from=${isoDate(d)}`, focus);
  view.querySelector('#from').addEventListener('change', (e) => e.target.value && go(parseDate(e.target.value), mode, '#from'));
  view.querySelectorAll('[data-shift]').forEach((b) => b.addEventListener('click', () =>
    go(addDays(from, Number(b.dataset.shift) * (mode === 'week' ? 7 : 1)), mode, `[data-shift="${b.dataset.shift}"]`)));
  view.querySelector('[data-mode]').addEventListener('click', (e) => go(from, e.currentTarget.dataset.mode));
  const shown = stillShown();
  const [r, waiting] = await Promise.all([api(`/api/calendar/admin/slots?start_date=${isoDate(from)}&end_date=${isoDate(to)}`),
    waitingBetween(from, to)]);
  if (!shown()) return;
  const list = view.querySelector('#slot-list');
  list.setAttribute('aria-busy', 'false');
  if (!r.ok) return say(list, problem(r));
  const slots = r.data;
  const refresh = (id, a) => slotsView(id, a);
  const render = () => {
    const keep = document.activeElement?.closest?.('[data-slot]')?.dataset.slot;
    if (!slots.length) {
      setHtml(list, html`<p class="muted">No departures in this period. Create a schedule (it makes its departures up to the booking
        horizon) or generate its slots.</p>`);
    } else if (mode === 'day') {
      setHtml(list, dayList(slots, waiting));
    } else {
      const days = [0, 1, 2, 3, 4, 5, 6].map((n) => isoDate(addDays(from, n)));
      setHtml(list, PHONE.matches ? weekAgenda(days, slots, waiting) : weekGrid(days, slots, waiting));
    }
    sizeBars(list);
    list.querySelectorAll('.dep[data-slot]').forEach((b) => b.addEventListener('click', () => {
      departurePanel(slots.find((s) => String(s.id) === b.dataset.slot), waiting, b, refresh);
    }));
    list.querySelectorAll('tr[data-slot]').forEach((row) => row.querySelectorAll('[data-act]')
      .forEach((b) => b.addEventListener('click', async () => {
      const slot = slots.find((s) => String(s.id) === row.dataset.slot);
      if (b.dataset.act === 'cancel') return cancelDeparture(slot, b);
      const value = b.dataset.act === 'cap' ? row.querySelector('[data-cap]').value
        : b.dataset.act === 'price' ? row.querySelector('[data-price]').value : null;
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
  if (mode === 'week') setOnLayoutChange(render);
  if (focusSlot !== undefined) departureElement(focusSlot, act)?.focus();
}
