// <booking-calendar tour-id min-date max-date initial-date selected-date selected-slot>
// A month grid coloured by availability (with a text cue, not colour alone),
// keyboard navigable per the ARIA grid pattern, with the chosen day's
// departures below. Without initial-date it opens on the month of the first
// bookable date, and a month with nothing bookable offers a jump to the next
// one. Closed days and departures (the server's `bookable` flag, the rule a
// booking follows) cannot be chosen; full ones can, for the waitlist.
// selected-date / selected-slot restore an earlier choice.
// Departure times are the tour's local times, and say so (its time zone).
// Choosing a day brings its departures into view (a phone shows them below
// the fold) and moves focus to their heading.
// A departure that runs only with enough people says how many more it needs
// and when that is decided, or that it is guaranteed (issue #18; the
// helpers below are shared with the flow and the customer pages).
// Events: `date-select` {date, slots}, `slot-select` {slot, date} (slot null
// when a restored choice can no longer be booked).
import {
  api, problem, money, parseDate, isoDate, formatDate, formatTime, tourInfo, refusedHere, refusedMessage,
} from './api.js';
import { html, setHtml } from './html.js';
import { shadowStyles } from './shadow-styles.js';

const LEVEL_TEXT = { high: 'Many spots', medium: 'Some spots', low: 'Few spots', none: 'Full' };
const LEGEND = { ...LEVEL_TEXT, none: 'Full: waitlist', closed: 'Closed' };
// Why a departure cannot be booked (the slots API's unbookable_reason).
const CLOSED_TEXT = {
  cutoff_passed: 'Booking closed', too_far_ahead: 'Not open yet', closed: 'Closed', cancelled: 'Cancelled',
  blacked_out: 'Closed', tour_inactive: 'Not offered',
};

// ---- a departure's minimum (issue #18) ----

/**
 * The wall-clock date and time of a local RFC 3339 time, exactly as written
 * (its date and time parts are already the tour's local time, so the
 * browser's zone plays no part): "2026-12-01T09:00:00+02:00" → "Tue 1 Dec,
 * 09:00" (with the year when it is not this year's).
 */
export function wallClock(local) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(local || ''));
  if (!m) return '';
  const [, y, mo, d, hh, mm] = m;
  const withYear = Number(y) !== new Date().getFullYear();
  const parts = new Intl.DateTimeFormat('en-GB', {
    weekday: 'short', day: 'numeric', month: 'short', ...(withYear ? { year: 'numeric' } : {}), timeZone: 'UTC',
  }).formatToParts(new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d))));
  const p = Object.fromEntries(parts.filter((x) => x.type !== 'literal').map((x) => [x.type, x.value]));
  return `${[p.weekday, p.day, p.month, p.year].filter(Boolean).join(' ')}, ${hh}:${mm}`;
}

/**
 * Where a departure stands on its minimum (the API's `guarantee` /
 * `departure_guarantee`), in words: {status, text}, or null when there is
 * nothing to say (no minimum). `booking` words it for a customer's own
 * booking; `zone` names the time zone after the deadline.
 */
export function guaranteeNote(g, { booking = false, zone = '' } = {}) {
  if (!g || typeof g !== 'object') return null;
  const when = wallClock(g.decision_at_local);
  const at = when ? `${when}${zone ? ` (${zone})` : ''}` : '';
  if (g.status === 'pending') {
    const n = Math.max(0, Number(g.needed) || 0);
    if (!n) return null;
    if (booking) {
      const people = `${n} more traveller${n === 1 ? '' : 's'}`;
      return { status: 'pending', text: `Your departure needs ${people} to go ahead${at ? `; decided on ${at}` : ''}. If it does not go ahead, it is cancelled and refunded in full.` };
    }
    return { status: 'pending', text: `Needs ${n} more to go ahead${at ? ` — decided on ${at}` : ''}` };
  }
  if (g.status === 'guaranteed' && Number(g.min_capacity) > 1) {
    return { status: 'guaranteed', text: booking ? 'Your departure is guaranteed to run.' : 'Guaranteed to run' };
  }
  if (g.status === 'cancelled' && booking) {
    return { status: 'cancelled', text: `Your departure was called off: it did not reach its minimum of ${g.min_capacity} travellers. Bookings on it are refunded in full.` };
  }
  return null;
}

const STYLE = `
:host { display: block; font-family: inherit; color: #1d2433; --c-high: #d6f5df; --c-high-ink: #14532d;
  --c-medium: #fff1c2; --c-medium-ink: #6b4500; --c-low: #ffdcd0; --c-low-ink: #8a2a00; --c-none: #ece4fb; --c-none-ink: #4a2a86; --c-closed: #eceef2; --c-closed-ink: #4b5567; }
.head { display: flex; align-items: center; justify-content: space-between; gap: .5rem; margin-bottom: .5rem; }
.head h3 { margin: 0; font-size: 1.1rem; }
button { font: inherit; }
.nav { min-width: 44px; min-height: 44px; border: 1px solid #8a94a6; background: #fff; border-radius: 8px; cursor: pointer; color: #1d2433; }
.nav:disabled { opacity: .4; cursor: not-allowed; }
table { width: 100%; border-collapse: separate; border-spacing: 3px; table-layout: fixed; }
th { font-size: .75rem; color: #4b5567; font-weight: 600; padding: .2rem 0; }
td { height: 3.6rem; border-radius: 8px; text-align: center; vertical-align: middle; cursor: pointer; border: 2px solid transparent;
  background: #fff; padding: 0 .1rem; user-select: none; }
td .n { display: block; font-weight: 700; }
td .cue { display: block; font-size: .62rem; line-height: 1.1; min-height: .7rem; }
td.out { visibility: hidden; }
td.high { background: var(--c-high); color: var(--c-high-ink); }
td.medium { background: var(--c-medium); color: var(--c-medium-ink); }
td.low { background: var(--c-low); color: var(--c-low-ink); }
td.none { background: var(--c-none); color: var(--c-none-ink); border: 2px dashed #7a5cc0; }
td.closed { background: var(--c-closed); color: var(--c-closed-ink); }
td.closed .n { text-decoration: line-through; }
td[aria-disabled="true"] { cursor: default; color: #6b7280; background: #f7f8fa; }
td[aria-disabled="true"].closed { background: var(--c-closed); color: var(--c-closed-ink); }
td[aria-selected="true"] { border-color: #0b5cad; box-shadow: inset 0 0 0 2px #0b5cad; }
td:focus-visible { outline: none; box-shadow: 0 0 0 3px #ffbf47; }
.legend { display: flex; gap: .75rem; flex-wrap: wrap; font-size: .8rem; margin: .5rem 0; padding: 0; list-style: none; }
.legend .swatch { display: inline-block; width: .9rem; height: .9rem; border-radius: 3px; vertical-align: -2px; margin-right: .3rem; border: 1px solid #c4cad4; }
.swatch.high { background: var(--c-high); } .swatch.medium { background: var(--c-medium); }
.swatch.low { background: var(--c-low); } .swatch.none { background: var(--c-none); border: 1px dashed #7a5cc0; }
.swatch.closed { background: var(--c-closed); }
.jump { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; margin: .4rem 0; }
.jump button { font: inherit; min-height: 44px; padding: .4rem .8rem; border: 1px solid #0b5cad; color: #0b5cad; background: #fff; border-radius: 8px; cursor: pointer; }
.jump button:focus-visible { outline: none; box-shadow: 0 0 0 3px #ffbf47; }
.slots { margin-top: .75rem; min-height: 4rem; }
.slots h4 { margin: .25rem 0 .5rem; font-size: 1rem; scroll-margin-top: .5rem; }
.slots h4:focus { outline: none; }
.slots h4 .tz { font-weight: 400; color: #4b5567; font-size: .85rem; }
.refused a { color: #0b5cad; word-break: break-all; }
.slot { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: center; gap: .2rem .5rem; width: 100%; text-align: left;
  padding: .6rem .8rem; margin: .3rem 0; border: 1px solid #c4cad4; border-radius: 8px; background: #fff; cursor: pointer; min-height: 44px; color: #1d2433; }
.slot[aria-pressed="true"] { border-color: #0b5cad; box-shadow: inset 0 0 0 2px #0b5cad; }
.slot:disabled { cursor: not-allowed; opacity: .6; }
.slot.full { border-style: dashed; border-color: #7a5cc0; }
.slot:focus-visible { outline: none; box-shadow: 0 0 0 3px #ffbf47; }
.gtee { flex-basis: 100%; font-size: .85rem; }
.gtee.pending { color: #6b4500; border-left: 3px solid #c77700; padding-left: .4rem; }
.gtee .badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-weight: 700; background: #d6f5df; color: #14532d; border: 1px solid #9bd3ad; }
.busy { opacity: .55; }
.msg { color: #4b5567; }
.error { color: #b42318; font-weight: 600; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;
const applyStyles = shadowStyles(STYLE);

/** The note as markup: a line for "needs N more", a badge for "guaranteed" (its text says it; colour only adds). */
export function guaranteeBadge(g) {
  if (!g) return '';
  return g.status === 'guaranteed'
    ? html`<span class="gtee guaranteed" data-guarantee="guaranteed"><span class="badge"><span aria-hidden="true">✓ </span>${g.text}</span></span>`
    : html`<span class="gtee ${g.status}" data-guarantee="${g.status}">${g.text}</span>`;
}

class BookingCalendar extends HTMLElement {
  static observedAttributes = ['tour-id', 'min-date', 'max-date', 'initial-date'];

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
    this.month = null; // Date of the first of the shown month
    this.days = {}; // monthly endpoint's availability
    this.currency = 'USD';
    this.focused = null; // iso date with the roving tabindex
    this.selected = null;
    this.selectedSlot = null;
    this.slots = [];
    this.loading = false;
    this.nextAvailable = null; // first bookable date from the shown month on
    this.timezone = null; // the tour's, which departure times are in
    this.refused = false; // this website may not use the server
  }

  connectedCallback() {
    const chosen = this.getAttribute('selected-date');
    const start = chosen || this.getAttribute('initial-date') || this.getAttribute('min-date') || isoDate(new Date());
    const d = parseDate(start);
    this.month = new Date(d.getFullYear(), d.getMonth(), 1);
    this.focused = isoDate(d);
    // With no date asked for, open on the month of the first bookable date.
    this.seekOpen = !chosen && !this.getAttribute('initial-date');
    this.render();
    this.load().then(() => this.restore(chosen));
  }

  /** Shows an earlier choice again (the flow's Back): the day and its departure. */
  async restore(iso) {
    if (!iso || this.refused) return;
    this.selected = iso;
    const slotId = this.getAttribute('selected-slot');
    this.selectedSlot = slotId ? { id: Number(slotId) } : null;
    this.render();
    await this.loadDay(iso, false);
    if (slotId && !this.selectedSlot) {
      this.dispatchEvent(new CustomEvent('slot-select', { detail: { slot: null, date: iso }, bubbles: true, composed: true }));
    }
  }

  attributeChangedCallback(name, old, value) {
    if (old !== value && this.isConnected && name === 'tour-id') this.load();
  }

  get tourId() { return this.getAttribute('tour-id'); }
  get minDate() { return this.getAttribute('min-date') || isoDate(new Date()); }
  get maxDate() { return this.getAttribute('max-date'); }

  /** Reloads the month and the selected day (e.g. after a slot filled up). */
  async refresh() {
    await this.load();
    if (this.selected) await this.loadDay(this.selected, false);
  }

  async load() {
    if (!this.tourId || !this.month) return;
    this.loading = true;
    this.render();
    const y = this.month.getFullYear(), m = this.month.getMonth() + 1;
    const [r, tour] = await Promise.all([
      api(`/api/calendar/tours/${encodeURIComponent(this.tourId)}/monthly?year=${y}&month=${m}`),
      this.timezone ? null : tourInfo(this.tourId),
    ]);
    if (tour?.ok) this.timezone = tour.data.timezone;
    this.refused = refusedHere(r);
    this.loading = false;
    this.loaded = true;
    if (r.ok) {
      this.days = r.data.availability || {};
      this.currency = r.data.currency || 'USD';
      this.nextAvailable = r.data.next_available_date || null;
      this.error = null;
    } else {
      this.days = {};
      this.nextAvailable = null;
      this.error = problem(r);
    }
    if (this.seekOpen) {
      this.seekOpen = false;
      if (!this.monthHasOpenDay() && this.nextAvailable && !this.inShownMonth(this.nextAvailable)) {
        const d = parseDate(this.nextAvailable);
        this.month = new Date(d.getFullYear(), d.getMonth(), 1);
        this.focused = this.nextAvailable;
        return this.load();
      }
    }
    this.render();
  }

  inShownMonth(iso) {
    const d = parseDate(iso);
    return d.getFullYear() === this.month.getFullYear() && d.getMonth() === this.month.getMonth();
  }

  /** Whether a day of the shown month can be booked now (with room). */
  monthHasOpenDay() {
    return Object.keys(this.days).some((iso) => this.inShownMonth(iso) && this.dayState(iso).open);
  }

  /** Shows the month of the next bookable date and chooses that date. */
  async jumpToNext() {
    const iso = this.nextAvailable;
    if (!iso) return;
    if (!this.inShownMonth(iso)) {
      const d = parseDate(iso);
      this.month = new Date(d.getFullYear(), d.getMonth(), 1);
      this.focused = iso;
      await this.load();
    }
    await this.choose(iso);
  }

  dayState(iso) {
    const info = this.days[iso];
    if (iso < this.minDate) return { disabled: true, cue: '', why: 'past' };
    if (this.maxDate && iso > this.maxDate) return { disabled: true, cue: '', why: 'not yet open' };
    if (!info) return { disabled: true, cue: '', why: 'no departures' };
    if (info.blackout) return { disabled: true, cue: 'Closed', level: 'closed', why: `closed: ${info.blackout}` };
    if (!info.num_bookable_slots) return { disabled: true, cue: 'Closed', level: 'closed', why: 'closed, not open for booking' };
    if (!info.has_availability) return { disabled: false, cue: 'Full', level: 'none', why: 'full, join the waitlist' };
    return { disabled: false, open: true, cue: LEVEL_TEXT[info.level] || '', level: info.level, why: LEVEL_TEXT[info.level]?.toLowerCase() + ' left' };
  }

  cells() {
    const first = this.month;
    const lead = (first.getDay() + 6) % 7; // Monday first
    const out = [];
    for (let i = 0; i < 42; i++) {
      const d = new Date(first.getFullYear(), first.getMonth(), 1 - lead + i);
      out.push({ d, iso: isoDate(d), inMonth: d.getMonth() === first.getMonth() });
    }
    return out;
  }

  render() {
    if (!this.month) return;
    if (this.refused) {
      setHtml(this.shadowRoot, refusedMessage(this.tourId));
      applyStyles(this.shadowRoot);
      return;
    }
    const title = this.month.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
    const minMonth = parseDate(this.minDate);
    const prevDisabled = this.month <= new Date(minMonth.getFullYear(), minMonth.getMonth(), 1);
    const maxMonth = this.maxDate ? parseDate(this.maxDate) : null;
    const nextDisabled = maxMonth && this.month >= new Date(maxMonth.getFullYear(), maxMonth.getMonth(), 1);
    const weekdays = [];
    for (let i = 0; i < 7; i++) {
      const d = new Date(2024, 0, 1 + i); // a Monday
      weekdays.push(html`<th scope="col" abbr="${d.toLocaleDateString(undefined, { weekday: 'long' })}">${d.toLocaleDateString(undefined, { weekday: 'short' })}</th>`);
    }
    const cells = this.cells();
    if (!cells.some((c) => c.iso === this.focused && c.inMonth)) {
      const firstOpen = cells.find((c) => c.inMonth && !this.dayState(c.iso).disabled);
      this.focused = (firstOpen || cells.find((c) => c.inMonth)).iso;
    }
    const rows = [];
    for (let r = 0; r < 6; r++) {
      const row = [];
      for (let c = 0; c < 7; c++) {
        const cell = cells[r * 7 + c];
        if (!cell.inMonth) { row.push(html`<td class="out" aria-hidden="true"></td>`); continue; }
        const st = this.dayState(cell.iso);
        // The name starts with what the cell shows (its day and cue), so
        // speech input users can say what they see (WCAG 2.5.3).
        const label = `${`${cell.d.getDate()} ${st.cue || ''}`.trim()}: ${formatDate(cell.iso, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}, ${st.why}`;
        row.push(html`<td role="gridcell" data-date="${cell.iso}" class="${st.level || ''}" tabindex="${cell.iso === this.focused ? 0 : -1}"
          aria-label="${label}" aria-selected="${cell.iso === this.selected}" ${st.disabled ? html`aria-disabled="true"` : ''}>
          <span class="n" aria-hidden="true">${cell.d.getDate()}</span> <span class="cue" aria-hidden="true">${st.cue}</span></td>`);
      }
      rows.push(html`<tr>${row}</tr>`);
    }
    const legend = ['high', 'medium', 'low', 'none', 'closed'].map((l) =>
      html`<li><span class="swatch ${l}"></span>${LEGEND[l]}</li>`);
    const jump = this.loaded && !this.loading && !this.error && !this.monthHasOpenDay()
      ? (this.nextAvailable
        ? html`<p class="jump"><span>Nothing can be booked this month.</span>
            <button type="button" data-jump>Next available date: ${formatDate(this.nextAvailable, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}</button></p>`
        : html`<p class="jump msg">No dates can be booked from this month on.</p>`)
      : '';
    setHtml(this.shadowRoot, html`<div class="head">
        <button class="nav" part="nav" data-nav="-1" aria-label="Previous month" ${prevDisabled ? 'disabled' : ''}>‹</button>
        <h3 id="title" aria-live="polite">${title}</h3>
        <button class="nav" part="nav" data-nav="1" aria-label="Next month" ${nextDisabled ? 'disabled' : ''}>›</button>
      </div>
      <table role="grid" aria-labelledby="title" aria-busy="${this.loading}" class="${this.loading ? 'busy' : ''}">
        <thead><tr>${weekdays}</tr></thead><tbody>${rows}</tbody></table>
      ${jump}
      <ul class="legend" aria-label="Legend">${legend}</ul>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <div class="slots" aria-live="polite">${this.renderSlots()}</div>`);
    applyStyles(this.shadowRoot);
    this.wire();
  }

  renderSlots() {
    if (!this.selected) return html`<p class="msg">Choose a date to see its departures.</p>`;
    const tz = this.timezone ? html` <span class="tz" data-tz>· times in ${this.timezone}</span>` : '';
    const head = html`<h4 tabindex="-1">${formatDate(this.selected, { weekday: 'long', day: 'numeric', month: 'long' })}${tz}</h4>`;
    if (this.slotsLoading) return html`${head}<p class="msg">Loading departures…</p>`;
    const shown = this.slots.filter((s) => !s.is_cancelled);
    if (!shown.length) return html`${head}<p class="msg">No departures this day.</p>`;
    return html`${head}${shown.map((s) => {
      const full = s.unbookable_reason === 'full';
      const spots = s.bookable
        ? `${s.available_spots} spot${s.available_spots === 1 ? '' : 's'} left`
        : (full ? 'Full, join the waitlist' : CLOSED_TEXT[s.unbookable_reason] || 'Closed');
      // The name holds what the button shows, in its order (WCAG 2.5.3).
      const g = guaranteeNote(s.guarantee);
      return html`<button class="slot ${full ? 'full' : ''}" data-slot="${s.id}" data-state="${s.bookable ? 'open' : s.unbookable_reason}"
        aria-pressed="${this.selectedSlot?.id === s.id}" ${s.bookable ? '' : 'disabled'}
        aria-label="${formatTime(s.start_time)}–${formatTime(s.end_time)}, ${spots}, ${money(s.price_per_person, s.currency)}${g ? `. ${g.text}. Price per person` : ' per person'}">
        <strong>${formatTime(s.start_time)}–${formatTime(s.end_time)}</strong> <span>${spots}</span> <span>${money(s.price_per_person, s.currency)}</span> ${guaranteeBadge(g)}</button>`;
    })}`;
  }

  /** Listeners for a full render: the month navigation and the grid. */
  wire() {
    const root = this.shadowRoot;
    root.querySelectorAll('[data-nav]').forEach((b) => b.addEventListener('click', () => this.shiftMonth(Number(b.dataset.nav))));
    root.querySelector('[data-jump]')?.addEventListener('click', () => this.jumpToNext());
    const grid = root.querySelector('table');
    if (!grid) return;
    grid.addEventListener('click', (e) => {
      const td = e.target.closest('td[data-date]');
      if (td) this.choose(td.dataset.date);
    });
    grid.addEventListener('keydown', (e) => this.onKey(e));
    this.wireSlots();
  }

  /**
   * Listeners for the departures list alone, after it is redrawn on its own
   * (wiring the month navigation again would make one click move two months).
   */
  wireSlots() {
    const root = this.shadowRoot;
    root.querySelectorAll('[data-slot]').forEach((b) => b.addEventListener('click', () => {
      const slot = this.slots.find((s) => String(s.id) === b.dataset.slot);
      if (!slot?.bookable) return;
      this.selectedSlot = slot;
      setHtml(root.querySelector('.slots'), this.renderSlots());
      this.wireSlots();
      root.querySelector(`[data-slot="${CSS.escape(b.dataset.slot)}"]`)?.focus();
      this.dispatchEvent(new CustomEvent('slot-select', { detail: { slot: this.selectedSlot, date: this.selected }, bubbles: true, composed: true }));
    }));
  }

  async shiftMonth(delta, focusIso) {
    this.month = new Date(this.month.getFullYear(), this.month.getMonth() + delta, 1);
    if (focusIso) this.focused = focusIso;
    await this.load();
    this.focusCell();
  }

  focusCell() {
    this.shadowRoot.querySelector(`td[data-date="${this.focused}"]`)?.focus();
  }

  onKey(e) {
    const td = e.target.closest('td[data-date]');
    if (!td) return;
    const d = parseDate(td.dataset.date);
    let next = null;
    switch (e.key) {
      case 'ArrowLeft': next = new Date(d.getFullYear(), d.getMonth(), d.getDate() - 1); break;
      case 'ArrowRight': next = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1); break;
      case 'ArrowUp': next = new Date(d.getFullYear(), d.getMonth(), d.getDate() - 7); break;
      case 'ArrowDown': next = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 7); break;
      case 'Home': next = new Date(d.getFullYear(), d.getMonth(), d.getDate() - ((d.getDay() + 6) % 7)); break;
      case 'End': next = new Date(d.getFullYear(), d.getMonth(), d.getDate() + (6 - ((d.getDay() + 6) % 7))); break;
      case 'PageUp': next = new Date(d.getFullYear(), d.getMonth() - 1, Math.min(d.getDate(), 28)); break;
      case 'PageDown': next = new Date(d.getFullYear(), d.getMonth() + 1, Math.min(d.getDate(), 28)); break;
      case 'Enter': case ' ': e.preventDefault(); this.choose(td.dataset.date); return;
      default: return;
    }
    e.preventDefault();
    const iso = isoDate(next);
    if (next.getMonth() !== this.month.getMonth() || next.getFullYear() !== this.month.getFullYear()) {
      const delta = (next.getFullYear() - this.month.getFullYear()) * 12 + next.getMonth() - this.month.getMonth();
      this.shiftMonth(delta, iso);
    } else {
      this.shadowRoot.querySelectorAll('td[data-date]').forEach((c) => c.setAttribute('tabindex', c.dataset.date === iso ? '0' : '-1'));
      this.focused = iso;
      this.focusCell();
    }
  }

  async choose(iso) {
    const st = this.dayState(iso);
    if (st.disabled) return;
    this.selected = iso;
    this.focused = iso;
    this.selectedSlot = null;
    this.render();
    this.focusCell();
    await this.loadDay(iso, true);
    if (this.selected === iso) this.revealSlots();
  }

  /**
   * After a day is chosen: its departures into view when they are not (on a
   * phone they are below the grid), smoothly unless the person asked for
   * reduced motion, and focus on their heading, from which Tab goes to the
   * first time and a screen reader reads the day.
   */
  revealSlots() {
    const list = this.shadowRoot.querySelector('.slots');
    const head = list?.querySelector('h4');
    if (!list || !head) return;
    const box = list.getBoundingClientRect();
    const viewport = window.innerHeight || document.documentElement.clientHeight;
    const hidden = box.top < 0 || box.bottom > viewport;
    head.focus({ preventScroll: true });
    if (hidden) {
      const reduce = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
      head.scrollIntoView({ block: 'start', behavior: reduce ? 'auto' : 'smooth' });
    }
  }

  async loadDay(iso, announce) {
    if (!this.shadowRoot.querySelector('.slots')) return;
    this.slotsLoading = true;
    setHtml(this.shadowRoot.querySelector('.slots'), this.renderSlots());
    const r = await api(`/api/calendar/tours/${encodeURIComponent(this.tourId)}/slots?start_date=${iso}&end_date=${iso}`);
    this.slotsLoading = false;
    this.slots = r.ok ? r.data : [];
    if (this.selected !== iso || !this.shadowRoot.querySelector('.slots')) return;
    if (this.selectedSlot) this.selectedSlot = this.slots.find((s) => s.id === this.selectedSlot.id && s.bookable) || null;
    setHtml(this.shadowRoot.querySelector('.slots'), this.renderSlots());
    this.wireSlots();
    if (announce) {
      this.dispatchEvent(new CustomEvent('date-select', { detail: { date: iso, slots: this.slots }, bubbles: true, composed: true }));
    }
  }
}

if (!customElements.get('booking-calendar')) customElements.define('booking-calendar', BookingCalendar);
export { BookingCalendar };
