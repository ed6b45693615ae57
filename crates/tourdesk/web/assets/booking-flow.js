// <booking-flow tour-id>
// The spec's five steps: date & time, party size (priced by the server),
// customer information, review, confirmation. Back and forward keep what was
// entered. A full day offers the waitlist; a slot that filled up meanwhile
// returns to time selection with fresh availability. A departure that cannot
// take the party (or a full day) offers the nearest departures that can
// (the availability API's `alternatives`), keeping what was entered.
// Every date and time says the tour's time zone. A departure that runs only
// with enough people says so on the time chosen and on the review.
// Emits `booking-complete` {reference}.
import {
  api, apiUrl, session, problem, money, formatDate, formatTime, formatDay, formatLocal, tourInfo,
  refusedHere, refusedMessage,
} from './api.js';
import { html, setHtml } from './html.js';
import { shadowStyles } from './shadow-styles.js';
import { guaranteeNote } from './booking-calendar.js';

const STEPS = ['Date & time', 'Party', 'Your details', 'Review', 'Done'];

const STYLE = `
:host { display: block; color: #1d2433; font-family: inherit; }
.wrap { container-type: inline-size; }
.steps { display: flex; gap: .25rem; list-style: none; padding: 0; margin: 0 0 1rem; flex-wrap: nowrap; }
.steps li { flex: 1 1 0; min-width: 0; font-size: .85rem; padding: .4rem .5rem; border-bottom: 3px solid #d5dae3; color: #4b5567;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.steps li[aria-current="step"] { border-color: #0b5cad; color: #1d2433; font-weight: 700; }
.steps li.done { border-color: #7fa9d6; }
/* Narrow (a phone, a sidebar): one row, the current step named, the others numbered. */
@container (max-width: 34rem) {
  .steps li { flex: 0 0 auto; padding: .35rem .6rem; text-align: center; }
  .steps li[aria-current="step"] { flex: 1 1 auto; text-align: left; }
  .steps li:not([aria-current]) .label, .steps li:not([aria-current]) .dot { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
}
h2 { font-size: 1.25rem; margin: .2rem 0 .8rem; }
h2:focus { outline: none; }
label { display: block; font-weight: 600; margin: .7rem 0 .25rem; }
.hint { font-weight: 400; color: #4b5567; font-size: .85rem; }
input, textarea { font: inherit; padding: .5rem; border: 1px solid #8a94a6; border-radius: 6px; width: 100%; max-width: 26rem; min-height: 44px; color: #1d2433; background: #fff; box-sizing: border-box; }
input[aria-invalid="true"] { border-color: #b42318; }
input:focus-visible, textarea:focus-visible, button:focus-visible { outline: none; box-shadow: 0 0 0 3px #ffbf47; }
.counter { display: flex; align-items: center; gap: .4rem; }
.counter input { width: 5rem; text-align: center; }
.counter button { width: 44px; height: 44px; font-size: 1.2rem; border: 1px solid #8a94a6; background: #fff; border-radius: 8px; cursor: pointer; color: #1d2433; }
.actions { display: flex; gap: .6rem; margin-top: 1.2rem; flex-wrap: wrap; }
.btn { font: inherit; font-weight: 600; border-radius: 8px; padding: .55rem 1.1rem; min-height: 44px; cursor: pointer; border: 1px solid #0b5cad; background: #0b5cad; color: #fff; }
.btn.secondary { background: #fff; color: #0b5cad; }
.actions .btn, nav { scroll-margin: 1rem 0; }
.btn:disabled { opacity: .5; cursor: not-allowed; }
.field-error { color: #b42318; font-size: .9rem; margin: .2rem 0 0; min-height: 1.1rem; }
.error { color: #b42318; font-weight: 600; }
.ok { color: #1b6e3a; font-weight: 600; }
.price { border: 1px solid #d5dae3; border-radius: 8px; padding: .6rem .8rem; max-width: 26rem; margin-top: 1rem; min-height: 7.5rem; }
.price table { width: 100%; border-collapse: collapse; }
.price td { padding: .15rem 0; } .price td:last-child { text-align: right; }
.price tr.total td { border-top: 1px solid #d5dae3; font-weight: 700; padding-top: .35rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dt { color: #4b5567; } dd { margin: 0; font-weight: 600; }
.reference { font-size: 1.6rem; font-weight: 800; letter-spacing: .04em; margin: .3rem 0; }
.waitlist { border: 1px dashed #c77700; background: #fff8ec; padding: .8rem; border-radius: 8px; margin-top: 1rem; }
.alternatives { border: 1px solid #b9cce4; background: #f3f8fe; padding: .8rem; border-radius: 8px; margin-top: 1rem; max-width: 34rem; }
.alternatives p { margin: 0 0 .4rem; }
.alternatives ul { list-style: none; margin: 0; padding: 0; }
.alt { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .2rem .8rem; width: 100%; text-align: left; font: inherit; color: #1d2433;
  padding: .55rem .8rem; margin: .3rem 0; min-height: 44px; border: 1px solid #0b5cad; border-radius: 8px; background: #fff; cursor: pointer; }
.alt:focus-visible { outline: none; box-shadow: 0 0 0 3px #ffbf47; }
.refused a { color: #0b5cad; word-break: break-all; }
.gtee { margin: .3rem 0; }
.gtee.pending { color: #6b4500; border-left: 3px solid #c77700; padding-left: .5rem; }
.gtee .badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-weight: 700; background: #d6f5df; color: #14532d; border: 1px solid #9bd3ad; }
dd.gtee { margin: 0; }
`;
const applyStyles = shadowStyles(STYLE);

function reducedMotion() {
  return !!window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
}

/** Brings `el` into view when it is outside the viewport (a phone's fold). */
function reveal(el) {
  if (!el) return;
  const box = el.getBoundingClientRect();
  if (box.top >= 0 && box.bottom <= (window.innerHeight || document.documentElement.clientHeight)) return;
  el.scrollIntoView({ block: 'nearest', behavior: reducedMotion() ? 'auto' : 'smooth' });
}

function uuid() {
  return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

class BookingFlow extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
    this.step = 0;
    this.tour = null;
    this.date = null;
    this.pick = null;
    this.daySlots = [];
    this.party = { adults: 2, children: 0, infants: 0 };
    this.quote = null;
    this.quoteError = null;
    this.contact = { name: '', email: '', phone: '', special: '', dietary: '', accessibility: '' };
    this.errors = {};
    this.message = null;
    this.result = null;
    this.waitlist = null; // {open, people, sent, error}
    this.alts = null; // {people, list}: departures that can take the party
    this.altsFirst = false; // shown above the calendar (after a refusal)
    this.altSeq = 0;
    this.refused = false; // this website may not use the server
    this.idemKey = uuid();
  }

  get timezone() { return this.tour?.timezone || ''; }

  get people() { return this.party.adults + this.party.children + this.party.infants; }

  get tourId() { return this.getAttribute('tour-id'); }

  async connectedCallback() {
    this.render();
    const r = await tourInfo(this.tourId);
    if (r.ok) this.tour = r.data;
    else if (refusedHere(r)) this.refused = true;
    else this.message = problem(r);
    // On the Tourdesk site a logged-in customer's booking goes to their
    // account (the session cookie travels with it); embedded elsewhere, or
    // logged out, this is a guest booking.
    if (session.present) {
      const me = await session.me();
      if (me.ok) {
        this.contact.name ||= me.data.name;
        this.contact.email ||= me.data.email;
        this.contact.phone ||= me.data.phone || '';
      }
    }
    // The customer may have used the calendar meanwhile (a slow network):
    // on the date step, keep it and redraw only what is around it.
    if (this.step === 0 && !this.refused && !this.message && this.shadowRoot.querySelector('booking-calendar')) {
      this.updateDateStep();
    } else {
      this.render();
    }
  }

  go(step) {
    this.step = step;
    this.message = null;
    this.render();
    // Each step starts at the top of the flow (on a phone, the step list
    // and the heading, not the middle of the new form).
    const h2 = this.shadowRoot.querySelector('h2');
    h2?.focus({ preventScroll: true });
    const nav = this.shadowRoot.querySelector('nav');
    if (nav && nav.getBoundingClientRect().top < 0) {
      nav.scrollIntoView({ block: 'start', behavior: reducedMotion() ? 'auto' : 'smooth' });
    } else {
      reveal(h2);
    }
  }

  render() {
    if (this.refused) {
      setHtml(this.shadowRoot, html`<div class="wrap">${refusedMessage(this.tourId)}</div>`);
      applyStyles(this.shadowRoot);
      return;
    }
    const steps = STEPS.map((s, i) => html`<li ${i === this.step ? html`aria-current="step"` : ''} class="${i < this.step ? 'done' : ''}"><span class="num">${i + 1}</span><span class="dot">.</span> <span class="label">${s}</span></li>`);
    const body = [this.stepDate, this.stepParty, this.stepContact, this.stepReview, this.stepDone][this.step].call(this);
    setHtml(this.shadowRoot, html`<div class="wrap"><nav aria-label="Booking steps"><ol class="steps">${steps}</ol></nav>
      ${this.message ? html`<p class="error" role="alert" tabindex="-1">${this.message}</p>` : ''}
      <section>${body}</section></div>`);
    applyStyles(this.shadowRoot);
    this.wire();
  }

  stepDate() {
    // "Chosen" only with a departure the calendar shows as chosen: it gets
    // the choice back through selected-date / selected-slot.
    const chosen = this.pick && this.date
      ? html`<p class="ok" data-chosen>Chosen: ${formatLocal(this.date, this.pick.start_time, this.timezone)}</p>${this.guaranteeLine()}`
      : html`<p class="hint">Pick a day, then a departure time.</p>`;
    const at = this.pick && this.date
      ? html`selected-date="${this.date}" selected-slot="${this.pick.id}"`
      : (this.date ? html`initial-date="${this.date}"` : '');
    // After a refused booking the alternatives come first, under the
    // message; for a full day, under the day's departures.
    const alts = html`<div class="alt-box" aria-live="polite">${this.altBlock()}</div>`;
    return html`<h2 tabindex="-1">Choose a date and time</h2>
      ${this.altsFirst ? alts : ''}
      <booking-calendar tour-id="${this.tourId}" ${at}></booking-calendar>
      ${chosen}${this.waitlistBlock()}
      ${this.altsFirst ? '' : alts}
      <div class="actions"><button class="btn" data-act="next" ${this.pick ? '' : 'disabled'}>Continue</button></div>`;
  }

  /** Where the chosen departure stands on its minimum, as a line (nothing without a minimum). */
  guaranteeLine(tag = 'p') {
    const g = guaranteeNote(this.pick?.guarantee, { zone: this.timezone });
    if (!g) return '';
    const body = g.status === 'guaranteed'
      ? html`<span class="badge"><span aria-hidden="true">✓ </span>${g.text}</span>`
      : html`${g.text}. If it does not go ahead, it is cancelled and you get a full refund.`;
    return tag === 'dd'
      ? html`<dt>Departure</dt><dd class="gtee ${g.status}" data-guarantee="${g.status}">${body}</dd>`
      : html`<p class="gtee ${g.status}" data-guarantee="${g.status}">${body}</p>`;
  }

  waitlistBlock() {
    const w = this.waitlist;
    if (!w) return '';
    if (w.sent) {
      // A new entry comes with its manage token; a join for an email that
      // already waits does not (its link goes to that inbox instead).
      const e = w.entry || {};
      const link = e.manage_token
        ? html`<p><a href="${apiUrl('/manage')}?waitlist=${e.id}#token=${encodeURIComponent(e.manage_token)}">See or leave your place on the waitlist</a></p>`
        : html`<p>The link to see or leave your place is in your email.</p>`;
      return html`<div class="waitlist" role="status"><p class="ok">You are on the waitlist for ${formatDate(this.date)}. We will hold spots for you when they free up.</p>${link}</div>`;
    }
    if (!w.open) {
      return html`<div class="waitlist"><p><strong>${formatDate(this.date)} is fully booked.</strong> Join the waitlist and we will hold spots for your whole party when some free up.</p>
        <button class="btn secondary" data-act="waitlist-open">Join the waitlist</button></div>`;
    }
    return html`<form class="waitlist" data-form="waitlist" novalidate>
      <p><strong>Waitlist for ${formatDate(this.date)}</strong></p>
      <label for="w-people">People</label><input id="w-people" name="people" type="number" min="1" max="50" value="${w.people}" required>
      <label for="w-name">Full name</label><input id="w-name" name="name" autocomplete="name" value="${this.contact.name}" required>
      <label for="w-email">Email</label><input id="w-email" name="email" type="email" autocomplete="email" value="${this.contact.email}" required>
      <label for="w-notes">Notes <span class="hint">(optional)</span></label><input id="w-notes" name="notes">
      ${w.error ? html`<p class="error" role="alert">${w.error}</p>` : ''}
      <div class="actions"><button class="btn" type="submit">Join the waitlist</button></div></form>`;
  }

  /** The departures that can take the party instead, as buttons choosing them. */
  altBlock() {
    const a = this.alts;
    if (!a) return '';
    if (!a.list.length) {
      return html`<p class="hint" data-no-alternatives>No other departure in the two weeks around this date has room for ${a.people}.</p>`;
    }
    const currency = this.tour?.currency || 'USD';
    return html`<div class="alternatives" data-alternatives role="group" aria-labelledby="alt-title">
      <p id="alt-title"><strong>These departures have room for ${a.people}:</strong></p>
      <ul>${a.list.map((s, i) => html`<li><button type="button" class="alt" data-alt="${i}" data-slot="${s.slot_id}">
        <strong>${formatLocal(s.date, s.start_time, this.timezone)}</strong>
        <span>${s.available_spots} spot${s.available_spots === 1 ? '' : 's'} left · ${money(s.price_per_person, currency)} per person</span></button></li>`)}</ul></div>`;
  }

  /** Redraws the alternatives alone (the rest of the step keeps its focus). */
  showAlternatives() {
    const box = this.shadowRoot.querySelector('.alt-box');
    if (!box) return;
    setHtml(box, this.altBlock());
    this.wireAlternatives(box);
  }

  wireAlternatives(root) {
    root.querySelectorAll('[data-alt]').forEach((b) => b.addEventListener('click', () => this.chooseAlternative(Number(b.dataset.alt))));
  }

  /**
   * Asks which departures can take the party instead of `slot` (the one
   * that cannot), or on the chosen day when `slot` is null. Shows them when
   * the answer is still the current one.
   */
  async loadAlternatives(slot) {
    const seq = ++this.altSeq;
    const people = this.seats;
    const date = this.date;
    const body = { tour_id: Number(this.tourId), requested_date: date, num_people: people };
    if (slot) body.requested_time = slot.start_time;
    const r = await api('/api/calendar/availability', { method: 'POST', body });
    if (seq !== this.altSeq) return;
    this.alts = r.ok ? { people, list: this.fitting(r.data, people, date, slot?.id) } : null;
    this.showAlternatives();
  }

  /**
   * The alternatives of an availability answer (or of a refused booking):
   * departures other than `except` with room for `people`, at most six.
   */
  fitting(data, people, date, except) {
    const list = Array.isArray(data?.alternatives) ? data.alternatives : [];
    // Same-day departures, when the day itself could take the party.
    const same = data?.available && Array.isArray(data.slots) ? data.slots.map((s) => ({ ...s, date })) : [];
    const seen = new Set();
    return [...same, ...list]
      .filter((s) => s && s.date && s.slot_id !== except && s.available_spots >= people && !seen.has(s.slot_id) && seen.add(s.slot_id))
      .slice(0, 6);
  }

  /** Takes alternative `i`: that departure becomes the choice; party and details stay. */
  chooseAlternative(i) {
    const s = this.alts?.list[i];
    if (!s) return;
    this.altSeq++;
    this.pick = {
      id: s.slot_id, slot_date: s.date, start_time: s.start_time, end_time: s.end_time,
      available_spots: s.available_spots, price_per_person: s.price_per_person, bookable: true, guarantee: s.guarantee,
    };
    this.date = s.date;
    this.daySlots = [];
    this.waitlist = null;
    this.alts = null;
    this.altsFirst = false;
    this.message = null;
    this.idemKey = uuid();
    if (this.step === 1) {
      this.quote = null;
      this.quoteError = null;
      this.render();
      this.shadowRoot.querySelector('h2')?.focus();
      this.fetchQuote();
      return;
    }
    // The calendar is drawn again on the new date, with the departure chosen.
    this.step = 0;
    this.render();
    const next = this.shadowRoot.querySelector('[data-act="next"]');
    next?.focus({ preventScroll: true });
    next?.scrollIntoView({ block: 'nearest', behavior: reducedMotion() ? 'auto' : 'smooth' });
  }

  counter(key, label, hint, min) {
    return html`<label for="p-${key}">${label} <span class="hint">${hint}</span></label>
      <div class="counter"><button type="button" data-dec="${key}" aria-label="One fewer ${label.toLowerCase()}">−</button>
      <input id="p-${key}" data-party="${key}" type="number" inputmode="numeric" min="${min}" max="50" value="${this.party[key]}">
      <button type="button" data-inc="${key}" aria-label="One more ${label.toLowerCase()}">+</button></div>`;
  }

  priceTable() {
    if (this.quoteError) return html`<p class="error" role="alert">${this.quoteError}</p>`;
    const q = this.quote;
    if (!q) return html`<p class="hint">Calculating the price…</p>`;
    const c = q.currency;
    const line = (label, n, each) => (n > 0 ? html`<tr><td>${n} × ${label} (${money(each, c)})</td><td>${money(n * each, c)}</td></tr>` : '');
    return html`<table><tbody>
      ${line('adult', q.num_adults, q.price_per_adult)}${line('child', q.num_children, q.price_per_child)}${line('infant', q.num_infants, q.price_per_infant)}
      <tr><td>Subtotal</td><td>${money(q.subtotal, c)}</td></tr>
      ${Number(q.discount_amount) > 0 ? html`<tr><td>Discount</td><td>−${money(q.discount_amount, c)}</td></tr>` : ''}
      <tr><td>Tax</td><td>${money(q.tax_amount, c)}</td></tr>
      <tr class="total"><td>Total</td><td data-total>${money(q.total_amount, c)}</td></tr></tbody></table>`;
  }

  /** The tour's party rules (the API's defaults until the tour is read). */
  get rules() { return this.tour?.party_rules || {}; }

  /** "3–12" and "0–2": the age bands from the configuration. */
  get bands() {
    const infant = this.rules.infant_max_age ?? 2, child = this.rules.child_max_age ?? 12;
    return { infant: `0–${infant}`, child: `${infant + 1}–${child}` };
  }

  ruleHints() {
    const r = this.rules, hints = [];
    if (r.max_minors_per_adult) hints.push(`At least one adult for every ${r.max_minors_per_adult} children and infants.`);
    if (r.max_infants_per_adult) hints.push(`At most ${r.max_infants_per_adult} infant(s) per adult.`);
    return hints.length ? html`<p class="hint" data-party-rules>${hints.join(' ')}</p>` : '';
  }

  /** The places the party takes (infants take none where they sit on a lap). */
  get seats() { return this.rules.infants_take_seat === false ? this.people - this.party.infants : this.people; }

  stepParty() {
    return html`<h2 tabindex="-1">How many people?</h2>
      <p class="hint" data-when>${formatLocal(this.date, this.pick.start_time, this.timezone)} · ${this.pick.available_spots} spot(s) left</p>
      ${this.guaranteeLine()}
      ${this.counter('adults', 'Adults', '', 1)}
      ${this.counter('children', 'Children', `(${this.bands.child})`, 0)}
      ${this.counter('infants', 'Infants', `(${this.bands.infant}, free, ${this.rules.infants_take_seat === false ? 'on a lap: no seat' : 'need a spot'})`, 0)}
      ${this.ruleHints()}
      <div class="price" aria-live="polite">${this.priceTable()}</div>
      <div class="alt-box" aria-live="polite">${this.altBlock()}</div>
      <div class="actions"><button class="btn secondary" data-act="back">Back</button>
      <button class="btn" data-act="next" ${this.quote && !this.quoteError ? '' : 'disabled'}>Continue</button></div>`;
  }

  field(key, label, type, auto, required, hint = '') {
    const err = this.errors[key];
    const tag = type === 'textarea'
      ? html`<textarea id="c-${key}" data-contact="${key}" ${err ? html`aria-invalid="true"` : ''} aria-describedby="e-${key}">${this.contact[key]}</textarea>`
      : html`<input id="c-${key}" data-contact="${key}" type="${type}" autocomplete="${auto}" value="${this.contact[key]}"
          ${required ? html`required aria-required="true"` : ''} ${err ? html`aria-invalid="true"` : ''} aria-describedby="e-${key}">`;
    return html`<label for="c-${key}">${label} ${hint ? html`<span class="hint">${hint}</span>` : ''}</label>${tag}
      <p class="field-error" id="e-${key}">${err || ''}</p>`;
  }

  stepContact() {
    return html`<h2 tabindex="-1">Your details</h2><form data-form="contact" novalidate>
      ${this.field('name', 'Full name', 'text', 'name', true)}
      ${this.field('email', 'Email', 'email', 'email', true, '(for your confirmation)')}
      ${this.field('phone', 'Phone', 'tel', 'tel', false, '(optional)')}
      ${this.field('special', 'Special requirements', 'textarea', 'off', false, '(optional)')}
      ${this.field('dietary', 'Dietary restrictions', 'text', 'off', false, '(optional)')}
      ${this.field('accessibility', 'Accessibility needs', 'text', 'off', false, '(optional)')}
      <div class="actions"><button class="btn secondary" type="button" data-act="back">Back</button>
      <button class="btn" type="submit">Review booking</button></div></form>`;
  }

  stepReview() {
    const q = this.quote;
    const people = [`${this.party.adults} adult(s)`, this.party.children ? `${this.party.children} child(ren)` : '', this.party.infants ? `${this.party.infants} infant(s)` : ''].filter(Boolean).join(', ');
    return html`<h2 tabindex="-1">Review your booking</h2>
      <dl><dt>Tour</dt><dd>${this.tour?.name || ''}</dd>
      <dt>Date</dt><dd>${formatDay(this.date, true)}</dd>
      <dt>Time</dt><dd data-when>${formatTime(this.pick.start_time)}–${formatTime(this.pick.end_time)} <span class="hint">(${this.timezone})</span></dd>
      ${this.guaranteeLine('dd')}
      <dt>People</dt><dd>${people}</dd>
      <dt>Name</dt><dd>${this.contact.name}</dd><dt>Email</dt><dd>${this.contact.email}</dd>
      ${this.contact.phone ? html`<dt>Phone</dt><dd>${this.contact.phone}</dd>` : ''}
      <dt>Total</dt><dd data-total>${money(q.total_amount, q.currency)}</dd>
      ${this.policyText(q.currency) ? html`<dt>If you cancel</dt><dd data-policy>${this.policyText(q.currency)}</dd>` : ''}</dl>
      <div class="actions"><button class="btn secondary" data-act="back">Back</button>
      <button class="btn" data-act="confirm">Confirm booking</button></div>`;
  }

  /** The tour's cancellation policy in a sentence: "100 % back up to 72 h before; 50 % up to 24 h before; 0 % after." */
  policyText(currency) {
    const p = this.tour?.cancellation_policy;
    if (!p?.tiers?.length) return '';
    const parts = p.tiers.map((t, i) => (t.min_hours_before > 0
      ? `${t.refund_percent} % back up to ${t.min_hours_before} h before`
      : `${t.refund_percent} % ${i === 0 ? 'back at any time' : 'after that'}`));
    const fee = Number(p.fee) > 0 ? ` A ${money(p.fee, currency)} fee is kept from refunds.` : '';
    return `${parts.join('; ')}.${fee}`;
  }

  stepDone() {
    const b = this.result;
    const manage = `${apiUrl('/manage')}?reference=${encodeURIComponent(b.booking_reference)}&email=${encodeURIComponent(b.customer_email)}`;
    return html`<h2 tabindex="-1">Booked!</h2>
      <p>Your booking reference:</p><p class="reference" data-reference>${b.booking_reference}</p>
      <p data-when>${b.tour_name} · ${formatLocal(b.tour_date, b.tour_time, this.timezone)} · ${b.total_people} people · ${money(b.total_amount, b.currency)}</p>
      <p><a href="${manage}">View, change or cancel this booking</a></p>
      <div class="actions"><button class="btn secondary" data-act="again">Book another</button></div>`;
  }

  wire() {
    const root = this.shadowRoot;
    root.querySelectorAll('[data-act]').forEach((b) => b.addEventListener('click', () => this.act(b.dataset.act)));
    const cal = root.querySelector('booking-calendar');
    if (cal) {
      cal.addEventListener('date-select', (e) => {
        this.date = e.detail.date;
        this.daySlots = e.detail.slots;
        this.pick = null;
        // The waitlist is for a day whose departures are open but full.
        const shown = this.daySlots.filter((s) => !s.is_cancelled);
        const full = !shown.some((s) => s.bookable) && shown.some((s) => s.unbookable_reason === 'full');
        this.waitlist = full ? { open: false, people: this.seats } : null;
        // A full day: the nearest departures with room, beside the waitlist.
        this.altSeq++;
        this.alts = null;
        this.altsFirst = false;
        this.message = null;
        this.shadowRoot.querySelector('.wrap > [role="alert"]')?.remove();
        this.updateDateStep();
        if (full) this.loadAlternatives(null);
      });
      cal.addEventListener('slot-select', (e) => {
        this.pick = e.detail.slot;
        this.date = e.detail.date;
        if (this.pick) { this.altSeq++; this.alts = null; }
        this.updateDateStep();
        // On a phone, the way on is below the times.
        if (this.pick) reveal(this.shadowRoot.querySelector('[data-act="next"]'));
      });
    }
    this.wireAlternatives(root);
    root.querySelectorAll('[data-party]').forEach((i) => i.addEventListener('input', () => {
      this.party[i.dataset.party] = Math.max(0, parseInt(i.value || '0', 10) || 0);
      this.requote();
    }));
    root.querySelectorAll('[data-inc],[data-dec]').forEach((b) => b.addEventListener('click', () => {
      const key = b.dataset.inc || b.dataset.dec;
      const min = key === 'adults' ? 1 : 0;
      this.party[key] = Math.max(min, this.party[key] + (b.dataset.inc ? 1 : -1));
      root.querySelector(`[data-party="${key}"]`).value = this.party[key];
      this.requote();
    }));
    root.querySelectorAll('[data-contact]').forEach((i) => i.addEventListener('input', () => { this.contact[i.dataset.contact] = i.value; }));
    root.querySelectorAll('[data-contact]').forEach((i) => i.addEventListener('blur', () => this.validateField(i.dataset.contact)));
    root.querySelector('[data-form="contact"]')?.addEventListener('submit', (e) => { e.preventDefault(); this.submitContact(); });
    root.querySelector('[data-form="waitlist"]')?.addEventListener('submit', (e) => { e.preventDefault(); this.joinWaitlist(e.target); });
  }

  /** Updates the chosen-slot line and buttons without redrawing the calendar. */
  updateDateStep() {
    const root = this.shadowRoot;
    const cal = root.querySelector('booking-calendar');
    const section = root.querySelector('section');
    [...section.children].forEach((el) => { if (el !== cal && el.tagName !== 'H2') el.remove(); });
    const tmp = document.createElement('div');
    setHtml(tmp, this.stepDate());
    [...tmp.children].forEach((el) => { if (el.tagName !== 'BOOKING-CALENDAR' && el.tagName !== 'H2') section.appendChild(el); });
    root.querySelectorAll('section [data-act]').forEach((b) => b.addEventListener('click', () => this.act(b.dataset.act)));
    root.querySelector('[data-form="waitlist"]')?.addEventListener('submit', (e) => { e.preventDefault(); this.joinWaitlist(e.target); });
    this.wireAlternatives(section);
  }

  validateField(key) {
    const v = (this.contact[key] || '').trim();
    let err = null;
    if (key === 'name' && !v) err = 'Please enter your name.';
    if (key === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) err = 'Please enter a valid email address.';
    if (key === 'phone' && v && !/^\+?[0-9 ()\-.]{5,30}$/.test(v)) err = 'Use digits, spaces and + - ( ) only.';
    this.errors[key] = err;
    const input = this.shadowRoot.querySelector(`[data-contact="${key}"]`);
    const out = this.shadowRoot.querySelector(`#e-${key}`);
    if (input) input.setAttribute('aria-invalid', err ? 'true' : 'false');
    if (out) out.textContent = err || '';
    return !err;
  }

  submitContact() {
    const ok = ['name', 'email', 'phone'].map((k) => this.validateField(k)).every(Boolean);
    if (!ok) {
      const first = ['name', 'email', 'phone'].find((k) => this.errors[k]);
      this.shadowRoot.querySelector(`[data-contact="${first}"]`)?.focus();
      return;
    }
    this.go(3);
  }

  requote() {
    clearTimeout(this.quoteTimer);
    this.quoteTimer = setTimeout(() => this.fetchQuote(), 200);
  }

  async fetchQuote() {
    const r = await api('/api/calendar/quote', { method: 'POST', body: {
      booking_slot_id: this.pick.id, num_adults: this.party.adults, num_children: this.party.children, num_infants: this.party.infants } });
    const total = this.seats;
    const tooMany = r.ok && total > r.data.available_spots;
    if (tooMany) {
      this.quote = r.data;
      this.quoteError = `Only ${r.data.available_spots} spot(s) left at this time; choose fewer people or another departure.`;
    } else {
      this.quote = r.ok ? r.data : null;
      this.quoteError = r.ok ? null : problem(r);
    }
    if (this.step !== 1) return;
    setHtml(this.shadowRoot.querySelector('.price'), this.priceTable());
    const next = this.shadowRoot.querySelector('[data-act="next"]');
    if (next) next.disabled = !(this.quote && !this.quoteError);
    if (tooMany) {
      this.loadAlternatives(this.pick);
    } else {
      this.altSeq++;
      this.alts = null;
      this.showAlternatives();
    }
  }

  async act(what) {
    if (what === 'back') return this.go(this.step - 1);
    if (what === 'again') {
      this.altSeq++;
      Object.assign(this, {
        pick: null, date: null, daySlots: [], quote: null, quoteError: null, result: null, waitlist: null, alts: null, altsFirst: false, idemKey: uuid(),
      });
      return this.go(0);
    }
    if (what === 'waitlist-open') {
      this.waitlist.open = true;
      this.updateDateStep();
      this.shadowRoot.querySelector('#w-people')?.focus();
      return;
    }
    if (what === 'next' && this.step === 0) {
      this.quote = null;
      this.quoteError = null;
      this.altSeq++;
      this.alts = null;
      this.go(1);
      return this.fetchQuote();
    }
    if (what === 'next' && this.step === 1) return this.go(2);
    if (what === 'confirm') return this.confirm();
  }

  async confirm() {
    const button = this.shadowRoot.querySelector('[data-act="confirm"]');
    if (button) { button.disabled = true; button.textContent = 'Booking…'; }
    const c = this.contact;
    const r = await api('/api/calendar/bookings', {
      method: 'POST',
      headers: { 'idempotency-key': this.idemKey },
      body: {
        tour_id: Number(this.tourId), booking_slot_id: this.pick.id,
        num_adults: this.party.adults, num_children: this.party.children, num_infants: this.party.infants,
        customer_name: c.name.trim(), customer_email: c.email.trim(), customer_phone: c.phone.trim() || null,
        special_requirements: c.special.trim() || null, dietary_restrictions: c.dietary.trim() || null,
        accessibility_needs: c.accessibility.trim() || null,
      },
    });
    if (r.ok) {
      this.result = r.data;
      this.go(4);
      this.dispatchEvent(new CustomEvent('booking-complete', { detail: { reference: r.data.booking_reference }, bubbles: true, composed: true }));
      return;
    }
    const code = r.data?.code;
    if (code === 'capacity_exceeded' || code === 'slot_unavailable') {
      // Someone else was faster: back to time selection with fresh numbers,
      // and the departures that can still take the party (the error's
      // `alternatives`, else asked for).
      const why = problem(r).replace(/([^.!?])\s*$/, '$1.');
      const given = Array.isArray(r.data?.alternatives);
      const failed = this.pick;
      this.altSeq++;
      this.alts = given ? { people: this.seats, list: this.fitting(r.data, this.seats, this.date, failed?.id) } : null;
      this.altsFirst = true;
      this.pick = null;
      this.idemKey = uuid();
      this.step = 0;
      this.message = `Sorry, that departure just changed: ${why} ${this.alts?.list.length ? 'Choose one of the departures below, or another day.' : 'Please choose again.'}`;
      this.render();
      this.shadowRoot.querySelector('[role="alert"]')?.focus?.();
      if (!given && failed) this.loadAlternatives(failed);
      return;
    }
    const field = r.data?.field || '';
    this.idemKey = uuid();
    if (field.startsWith('num_')) { this.go(1); this.message = problem(r); this.render(); return this.fetchQuote(); }
    if (field.startsWith('customer_') || field.endsWith('requirements') || field.endsWith('restrictions') || field.endsWith('needs')) {
      this.go(2); this.message = problem(r); this.render(); return;
    }
    this.message = problem(r);
    this.render();
  }

  async joinWaitlist(form) {
    const data = Object.fromEntries(new FormData(form));
    this.contact.name = data.name; this.contact.email = data.email;
    const r = await api('/api/calendar/waitlist', { method: 'POST', body: {
      tour_id: Number(this.tourId), requested_date: this.date, num_people: Number(data.people),
      customer_name: data.name, customer_email: data.email, notes: data.notes || null } });
    if (r.ok) { this.waitlist.sent = true; this.waitlist.entry = r.data; } else { this.waitlist.error = problem(r); this.waitlist.people = Number(data.people); }
    this.updateDateStep();
    this.shadowRoot.querySelector('.waitlist')?.focus?.();
  }
}

if (!customElements.get('booking-flow')) customElements.define('booking-flow', BookingFlow);
export { BookingFlow };
