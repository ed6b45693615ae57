/**
 * The schedules view (#schedules?tour=): a tour's schedules, with their
 * minimum, previews and slot generation, and the form for a new schedule that
 * previews the departures it makes before creating it.
 */
import { api, problem, isoDate, formatDate, formatTime } from '../api.js';
import { html, setHtml } from '../html.js';
import { addDays } from './dates.js';
import { say, flash } from './flash.js';
import { clearErrors, formProblem } from './forms.js';
import { shell, navigate } from './shell.js';
import { state, tourName, tourOptions } from './state.js';

/** The booking horizon (BOOKING_ADVANCE_DAYS), as the server reports it (90, its default, until then). */
const horizonDays = () => state.settings?.booking_advance_days ?? 90;
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
/** What a schedule's minimum means for its departures, for the preview. */
function minimumSummary(min, hours) {
  if (!(min > 1)) return html`<p class="muted" id="s-minimum">No minimum: every departure runs however many are booked.</p>`;
  return html`<p id="s-minimum">Each departure needs <strong>${min} people</strong> to go ahead. It is decided <strong>${
    hours} hours</strong> before it starts:
    short of ${min}, it is cancelled and its customers are refunded in full.</p>`;
}

export async function schedulesView() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const tourId = params.get('tour') || state.tours[0]?.id || '';
  const today = isoDate(new Date());
  const view = shell('schedules', html`<div class="row"><div><label for="s-tour">Tour</label><select
    id="s-tour">${tourOptions(tourId, 'Choose a tour')}</select></div></div>
    <div id="s-list"></div>
    <form class="card" id="s-form" novalidate><h2>New schedule</h2>
      <div class="row"><div><label>Name<input name="name" value="Morning departures"></label></div>
      <div><label>Start time<input name="start_time" type="time" value="09:00"></label></div>
      <div><label>Duration (minutes)<input name="duration_minutes" type="number" min="1" placeholder="tour's"></label></div>
      <div><label>Recurrence<select name="recurrence"><option value="none">Once</option><option value="daily">Daily</option>
        <option value="weekly" selected>Weekly</option><option value="biweekly">Every two weeks</option><option
        value="monthly">Monthly</option>
        <option value="custom">Custom (RRULE)</option></select></label></div></div>
      <fieldset><legend>Weekdays</legend>${DAYS.map((d) =>
        html`<label class="inline-choice"><input type="checkbox" name="${d}"> ${d[0].toUpperCase() + d.slice(1)}</label>`)}</fieldset>
      <label>RRULE <span class="muted">(custom only, e.g. FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR)</span><input name="rrule"></label>
      <div class="row"><div><label>Max capacity<input name="max_capacity" type="number" min="1" value="15"></label></div>
      <div><label>Min capacity<input name="min_capacity" type="number" min="0" value="1" aria-describedby="s-min-help"></label></div>
      <div><label>Decide (hours before)<input name="decision_hours" type="number" min="1" max="8760" value="48"
        aria-describedby="s-min-help"></label></div>
      <div><label>Valid from<input name="valid_from" type="date" value="${today}"></label></div>
      <div><label>Valid until<input name="valid_until" type="date"></label></div>
      <div><label>Price override<input name="price_override" type="number" min="0" step="0.01"></label></div></div>
      <p class="muted"
        id="s-min-help">With a minimum above 1, each departure is decided that many hours before it starts: still short of its minimum,
        it is cancelled and its customers refunded in full; otherwise it is guaranteed (at once, when the minimum is reached).</p>
      <p><button class="btn secondary" type="submit">Preview departures</button></p><p class="error" role="alert" data-err></p>
      <div id="s-preview"></div></form>`);
  view.querySelector('#s-tour').addEventListener('change', (e) => { location.hash = `schedules?tour=${e.target.value}`; });
  // A new schedule makes its departures up to the booking horizon at once:
  // the form previews them first (a dry run), and "Create schedule"
  // creates exactly the schedule previewed. A change to the form after the
  // preview withdraws it until it is previewed again.
  const form = view.querySelector('#s-form'), out = view.querySelector('#s-preview');
  const body = () => {
    const f = form;
    const b = { tour_id: Number(view.querySelector('#s-tour').value), name: f.name.value, start_time: `${f.start_time.value}:00`,
      recurrence: f.recurrence.value, max_capacity: Number(f.max_capacity.value), min_capacity: Number(f.min_capacity.value),
      decision_hours: Number(f.decision_hours.value), valid_from: f.valid_from.value };
    DAYS.forEach((d) => { b[d] = f[d].checked; });
    if (f.duration_minutes.value) b.duration_minutes = Number(f.duration_minutes.value);
    if (f.rrule.value.trim()) b.rrule = f.rrule.value.trim();
    if (f.valid_until.value) b.valid_until = f.valid_until.value;
    if (f.price_override.value) b.price_override = f.price_override.value;
    return b;
  };
  let previewed = null;
  const stale = () => {
    if (!previewed) return;
    const changed = JSON.stringify(body()) !== JSON.stringify(previewed);
    const confirm = out.querySelector('#s-confirm'), note = out.querySelector('#s-stale');
    if (confirm) confirm.disabled = changed;
    if (note) note.hidden = !changed;
    out.querySelector('#s-summary')?.classList.toggle('superseded', changed);
  };
  form.addEventListener('input', stale);
  form.addEventListener('change', stale);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = form.querySelector('[data-err]');
    err.textContent = '';
    const asked = body();
    if (!asked.tour_id) return say(err, 'Choose a tour first.');
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const p = await api('/api/calendar/admin/schedules?dry_run=true', { method: 'POST', body: asked });
    button.disabled = false;
    if (!p.ok) { previewed = null; setHtml(out, html``); return say(err, problem(p)); }
    previewed = asked;
    const d = p.data.departures || { created: 0, skipped_blackout: 0, slots: [], from: asked.valid_from, until: asked.valid_from };
    const first = d.slots.slice(0, 8);
    setHtml(out, html`<div class="card stacked preview" id="s-previewed">
      <p id="s-summary"
        tabindex="-1"><strong>This will create ${d.created} departure${d.created === 1 ? '' : 's'}</strong> of ${tourName(asked.tour_id)}
        from ${formatDate(d.from)} to ${formatDate(d.until)}${
          d.skipped_blackout ? html`; <strong>${d.skipped_blackout}</strong> skipped for blackouts` : ''}.</p>
      ${first.length ? html`<ul class="preview-dates">${first.map((x) =>
        html`<li>${formatDate(x.slot_date)} ${formatTime(x.start_time)}</li>`)}</ul>
        ${d.slots.length > first.length
          ? html`<p class="muted">and ${d.slots.length - first.length} more, to ${formatDate(d.until)}.</p>` : ''}`
        : html`<p class="muted">No departure falls in these dates: the schedule is kept, and the daily job adds departures as its dates
          come within the booking horizon.</p>`}
      <p class="muted">Later departures are added day by day as they come within the booking horizon.</p>
      ${minimumSummary(asked.min_capacity, asked.decision_hours)}
      <p class="error" id="s-stale" role="status"
        hidden>The form has changed since this preview: press “Preview departures” again to see what it creates.</p>
      <p><button class="btn" type="button" id="s-confirm">Create schedule</button></p></div>`);
    out.querySelector('#s-summary').focus();
    out.querySelector('#s-confirm').addEventListener('click', async (ev) => {
      const b2 = ev.currentTarget;
      if (JSON.stringify(body()) !== JSON.stringify(previewed)) return stale();
      b2.disabled = true;
      const r = await api('/api/calendar/admin/schedules', { method: 'POST', body: previewed });
      b2.disabled = false;
      if (!r.ok) return say(err, problem(r));
      const made = r.data.departures;
      flash(`Schedule “${r.data.name}” created${made
        ? ` with ${made.created} departure${made.created === 1 ? '' : 's'}, ${formatDate(made.from)} to ${formatDate(made.until)}` : ''}.`);
      navigate(`schedules?tour=${previewed.tour_id}&new=${r.data.id}`, `[data-schedule="${Number(r.data.id)}"] h2`);
    });
  });
  // The schedules already there, after the form is wired (it can be used meanwhile).
  const list = view.querySelector('#s-list');
  if (tourId) {
    const r = await api(`/api/calendar/admin/schedules?tour_id=${encodeURIComponent(tourId)}`);
    setHtml(list, r.ok && r.data.length ? html`${r.data.map((s) => html`<article class="card stacked" data-schedule="${s.id}">
      <h2>${s.name} ${s.is_active ? '' : html`<span class="pill">inactive</span>`}</h2>
      <p class="muted">${formatTime(s.start_time)} · ${s.duration_minutes} min · ${s.recurrence}${s.rrule ? ` (${s.rrule})` : ''}
        ${['weekly', 'biweekly'].includes(s.recurrence) ? ' · ' + DAYS.filter((d) => s[d]).map((d) => d.slice(0, 3)).join(', ') : ''}
        · capacity ${s.max_capacity}${
          s.min_capacity > 1 ? ` · minimum ${s.min_capacity}, decided ${s.decision_hours ?? 48} h before` : ''} · from ${s.valid_from}${
          s.valid_until ? ` to ${s.valid_until}` : ''}${s.price_override ? ` · ${s.price_override}` : ''}</p>
      ${s.is_active ? html`<form class="row schedule-minimum" data-minimum novalidate>
        <div><label for="sm-min-${s.id}">Min capacity</label><input id="sm-min-${s.id}" name="min_capacity" type="number" min="0"
          max="${s.max_capacity}" value="${s.min_capacity ?? 1}" class="w-6rem" aria-describedby="sm-min-${s.id}-err"><p
          class="field-error" id="sm-min-${s.id}-err" data-field-err="min_capacity"></p></div>
        <div><label for="sm-hours-${s.id}">Decide (hours before)</label><input id="sm-hours-${s.id}" name="decision_hours" type="number"
          min="1" max="8760" value="${s.decision_hours ?? 48}" class="w-7rem" aria-describedby="sm-hours-${s.id}-err"><p
          class="field-error" id="sm-hours-${s.id}-err" data-field-err="decision_hours"></p></div>
        <div><button class="btn secondary" type="submit">Save minimum<span class="sr-only"> of ${s.name}</span></button></div>
        <p class="error" role="alert" data-err></p></form>` : ''}
      ${s.is_active ? html`<div class="row"><div><label>From<input type="date" data-from value="${today}"></label></div>
        <div><label>To<input type="date" data-to value="${isoDate(addDays(new Date(), horizonDays()))}"></label></div>
        <div><button class="btn secondary" data-act="preview">Preview dates</button> <button class="btn"
          data-act="generate">Generate slots</button>
        <button class="btn danger" data-act="deactivate">Deactivate</button></div></div>` : ''}
      <div data-out aria-live="polite"></div></article>`)}` : html`<p class="muted">No schedules for this tour yet.</p>`);
    list.querySelectorAll('form[data-minimum]').forEach((f) => f.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(f);
      const id = f.closest('[data-schedule]').dataset.schedule;
      const r = await api(`/api/calendar/admin/schedules/${id}`, { method: 'PUT',
        body: { min_capacity: Number(f.elements.namedItem('min_capacity').value),
          decision_hours: Number(f.elements.namedItem('decision_hours').value) } });
      if (!r.ok) return formProblem(f, r);
      flash(`Minimum saved: ${r.data.min_capacity > 1
        ? `${r.data.min_capacity} people, decided ${r.data.decision_hours ?? ''} h before each departure` : 'none'}. `
        + 'It applies to the schedule\'s future departures.');
      navigate(`schedules?tour=${tourId}`, `[data-schedule="${Number(id)}"] form[data-minimum] input`);
    }));
    list.querySelectorAll('[data-schedule]').forEach((card) => card.querySelectorAll('[data-act]')
      .forEach((b) => b.addEventListener('click', async () => {
      const id = card.dataset.schedule, out = card.querySelector('[data-out]');
      const range = `start_date=${card.querySelector('[data-from]').value}&end_date=${card.querySelector('[data-to]').value}`;
      if (b.dataset.act === 'preview') {
        const r = await api(`/api/calendar/admin/schedules/${id}/preview?${range}`);
        setHtml(out, r.ok ? html`<p>${r.data.length} departure(s):</p><p class="muted">${
          r.data.map((p) => `${formatDate(p.slot_date)} ${formatTime(p.start_time)}`).join(' · ') || 'none'}</p>`
          : html`<p class="error">${problem(r)}</p>`);
      } else if (b.dataset.act === 'generate') {
        const r = await api(`/api/calendar/admin/schedules/${id}/generate-slots?${range}`, { method: 'POST' });
        setHtml(out, r.ok ? html`<p class="ok">Created ${r.data.created} slot(s); ${r.data.skipped_existing} already existed; ${
          r.data.skipped_blackout} skipped for blackouts.</p>` : html`<p class="error">${problem(r)}</p>`);
      } else if (confirm('Deactivate this schedule? Its future slots without bookings are cancelled.')) {
        const r = await api(`/api/calendar/admin/schedules/${id}`, { method: 'DELETE' });
        r.ok ? (flash(`Schedule deactivated; ${r.data.cancelled_slots} empty future slot(s) cancelled.`), schedulesView())
          : flash(problem(r), false);
      }
    })));
  }
}
