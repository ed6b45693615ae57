/**
 * A departure's minimum (issue #18): whether it is at risk, the tag and fact
 * that say where it stands, the form that moves its decision deadline and the
 * dialog that guarantees it. Used by the slots and the at-risk views.
 */
import { api, problem, formatDate, formatTime } from '../api.js';
import { html } from '../html.js';
import { wallClock } from '../booking-calendar.js';
import { openDialog } from './dialogs.js';
import { say } from './flash.js';
import { fieldError, clearErrors } from './forms.js';
import { state, tourName } from './state.js';

export const GUARANTEED_BY = {
  minimum_reached: 'the minimum was reached', manual: 'guaranteed by an operator', deadline: 'it had its minimum at the deadline',
};
/** The tour's time zone, which a departure's local times are in. */
export const tourZone = (s) => s.timezone || state.tours.find((t) => t.id === s.tour_id)?.timezone || '';
/** A local RFC 3339 time as a datetime-local input's value ("2026-12-01T09:00"). */
const localInputValue = (local) => (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.exec(local || '') || [''])[0];
/** Waiting for its minimum and still to be decided by an operator: guarantee and deadline apply. */
export const atRisk = (s) => s.guarantee?.status === 'pending' && !s.is_cancelled;
/** "Tue 1 Dec, 09:00 (Asia/Jerusalem)": a deadline in the tour's wall-clock time. */
export const deadlineText = (s) => {
  const w = wallClock(s.guarantee?.decision_at_local);
  return w ? `${w}${tourZone(s) ? ` (${tourZone(s)})` : ''}` : 'no deadline';
};

/** The minimum in a departure card or the day list: "needs 3 more", or "guaranteed". */
export function minimumTag(s) {
  const g = s.guarantee;
  if (!g || s.is_cancelled) return '';
  if (g.status === 'pending') return html` <span class="dep-min pending" data-minimum="pending">needs ${g.needed} more</span>`;
  if (g.status === 'guaranteed' && g.min_capacity > 1) {
    return html` <span class="dep-min guaranteed" data-minimum="guaranteed"><span aria-hidden="true">✓ </span>guaranteed</span>`;
  }
  return '';
}

/** The minimum as a fact of the departure panel. */
export function minimumFact(s) {
  const g = s.guarantee;
  if (!g || (g.status === 'none' && !(g.min_capacity > 1))) return '';
  let text;
  if (g.status === 'pending' && !s.is_cancelled) {
    text = `Not yet guaranteed: ${g.booked} of a minimum of ${g.min_capacity} booked, needs ${g.needed} more; `
      + `decided on ${deadlineText(s)}`;
  } else if (g.status === 'pending' || g.status === 'cancelled') {
    text = `Called off: it did not reach its minimum of ${g.min_capacity}`;
  } else if (g.status === 'guaranteed') {
    text = `Guaranteed to run (${GUARANTEED_BY[g.guaranteed_by] || g.guaranteed_by || 'guaranteed'})`
      + `${g.guaranteed_at ? `, ${new Date(g.guaranteed_at).toLocaleString()}` : ''}; minimum ${g.min_capacity}`;
  } else {
    text = `Minimum ${g.min_capacity}`;
  }
  return html`<dt>Minimum</dt><dd data-guarantee="${g.status}">${text}</dd>`;
}

/** The form that moves a departure's decision deadline (a wall-clock time in the tour's zone). */
export function decisionForm(s, prefix) {
  const id = `${prefix}-decision-${s.id}`, zone = tourZone(s);
  return html`<form class="row decision-form" data-decision="${s.id}" novalidate>
    <div><label for="${id}">Extend deadline to${zone ? html` <span class="muted">(${zone})</span>` : ''}</label>
      <span class="decision-input"><input id="${id}" name="decision_at" type="datetime-local"
        value="${localInputValue(s.guarantee?.decision_at_local)}" aria-describedby="${id}-err">
      <button class="btn secondary" type="submit">Save<span class="sr-only"> the deadline of ${tourName(s.tour_id)}, ${
        formatDate(s.slot_date)} ${formatTime(s.start_time)}</span></button></span>
      <p class="field-error" id="${id}-err" data-field-err="decision_at"></p></div>
    <p class="error" role="alert" data-err></p></form>`;
}

/** Saves a new deadline; a 422 shows under the field. `saved(slot, text)` after success. */
export function wireDecisionForm(form, s, saved) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const input = form.elements.namedItem('decision_at');
    if (!input.value) return fieldError(form, 'decision_at', 'Choose the date and time to decide by.');
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const r = await api(`/api/calendar/admin/slots/${s.id}/decision`, { method: 'POST', body: { decision_at: input.value } });
    button.disabled = false;
    if (!r.ok) {
      const text = problem(r).replace(/^decision_at:\s*/, '');
      if (!(r.status === 422 && fieldError(form, 'decision_at', text))) say(form.querySelector('[data-err]'), text);
      return;
    }
    const updated = { ...s, ...r.data };
    saved(updated, `Decision deadline of ${tourName(s.tour_id)}, ${formatDate(s.slot_date)} ${formatTime(s.start_time)}, `
      + `moved to ${deadlineText(updated)}.`);
  });
}

/**
 * Asks to guarantee departure `s` (it then runs whatever the number), with
 * an optional reason for the history; `done({slot, text})` once guaranteed.
 */
export function guaranteeDeparture(s, opener, done) {
  const g = s.guarantee || {};
  const when = `${formatDate(s.slot_date, { weekday: 'long', day: 'numeric', month: 'long' })} ${formatTime(s.start_time)}`;
  const dlg = openDialog('gd-title', html`<form id="gd-form" novalidate>
    <h2 id="gd-title">Guarantee the ${when} departure of ${tourName(s.tour_id)}?</h2>
    <p>It has ${g.booked} of the ${g.min_capacity} people it needs. Guaranteed, it runs with however many are booked:
      it is not cancelled at its deadline, and its customers see that it is guaranteed to run. This cannot be undone.</p>
    <label for="gd-reason">Reason <span class="muted">(optional, kept in each booking's history)</span></label>
    <textarea id="gd-reason" maxlength="1000" aria-describedby="gd-err"></textarea>
    <p class="field-error" id="gd-err" role="alert"></p>
    <p class="actions"><button class="btn" type="submit" data-ok>Guarantee departure</button>
      <button class="btn secondary" type="button" data-close>Not now</button></p></form>`, opener);
  const form = dlg.querySelector('form'), err = form.querySelector('#gd-err');
  form.querySelector('[data-ok]').focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const button = form.querySelector('[data-ok]');
    button.disabled = true;
    const reason = form.querySelector('#gd-reason').value.trim();
    const res = await api(`/api/calendar/admin/slots/${s.id}/guarantee`, { method: 'POST', body: reason ? { reason } : {} });
    button.disabled = false;
    if (!res.ok) { err.textContent = problem(res); return; }
    dlg.close();
    done({ slot: res.data,
      text: `The ${formatDate(s.slot_date)} ${formatTime(s.start_time)} departure of ${tourName(s.tour_id)} is guaranteed to run.` });
  });
}
