/**
 * The blackouts view (#blackouts): the active blackouts and the form for a new
 * one, which previews the departures it cancels and those with bookings first.
 */
import { api, problem, formatDate, formatTime } from '../api.js';
import { html, setHtml } from '../html.js';
import { flash } from './flash.js';
import { shell } from './shell.js';
import { tourName, tourOptions } from './state.js';

export async function blackoutsView() {
  const view = shell('blackouts', html`<div id="b-list"></div>
    <form class="card" id="b-form" novalidate><h2>New blackout</h2>
      <div class="row"><div><label>Tour<select name="tour_id">${tourOptions('', 'Every tour')}</select></label></div>
      <div><label>From<input name="start_date" type="date" required></label></div><div><label>To<input name="end_date"
        type="date" required></label></div>
      <div><label>Type<select name="blackout_type"><option>holiday</option><option>maintenance</option><option>weather</option><option
        >custom</option></select></label></div>
      <div><label>Name<input name="name" required></label></div></div>
      <label>Description<input name="description"></label>
      <p><button class="btn secondary" type="submit">Check conflicts</button></p><div id="b-preview" aria-live="polite"></div></form>`);
  const r = await api('/api/calendar/admin/blackouts');
  setHtml(view.querySelector('#b-list'), r.ok && r.data.length
    ? html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>Dates</th><th>Tour</th><th>Type</th>
    <th><span class="sr-only">Actions</span></th></tr></thead><tbody>
    ${r.data.map((b) => html`<tr><td>${b.name}</td><td>${formatDate(b.start_date)} – ${formatDate(b.end_date)}</td>
    <td>${b.tour_id ? tourName(b.tour_id) : 'every tour'}</td>
    <td>${b.blackout_type}</td><td><button class="btn secondary" data-remove="${b.id}">Remove</button></td></tr>`)}</tbody></table></div>`
    : html`<p class="muted">No active blackouts.</p>`);
  view.querySelectorAll('[data-remove]').forEach((b) => b.addEventListener('click', async () => {
    const res = await api(`/api/calendar/admin/blackouts/${b.dataset.remove}`, { method: 'DELETE' });
    res.ok ? (flash(`Blackout removed; ${res.data.reopened_slots} slot(s) reopened.`), blackoutsView()) : flash(problem(res), false);
  }));
  const form = view.querySelector('#b-form');
  const body = () => ({ tour_id: form.tour_id.value ? Number(form.tour_id.value) : null, start_date: form.start_date.value,
    end_date: form.end_date.value, blackout_type: form.blackout_type.value, name: form.name.value, description: form.description.value });
  // "Create blackout" creates exactly the blackout previewed (the body is
  // kept from the preview); editing the form afterwards says so and asks
  // for a new check.
  let previewed = null;
  const stale = () => {
    const note = view.querySelector('#b-stale');
    if (previewed && note) note.hidden = JSON.stringify(body()) === JSON.stringify(previewed);
  };
  form.addEventListener('input', stale);
  form.addEventListener('change', stale);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = view.querySelector('#b-preview');
    const asked = body();
    const p = await api('/api/calendar/admin/blackouts?dry_run=true', { method: 'POST', body: asked });
    if (!p.ok) { previewed = null; setHtml(out, html`<p class="error" role="alert">${problem(p)}</p>`); return; }
    previewed = asked;
    setHtml(out, html`<p id="b-previewed">Preview of “${asked.name}”, ${asked.tour_id ? tourName(asked.tour_id) : 'every tour'},
      ${formatDate(asked.start_date)} – ${formatDate(asked.end_date)}:</p>
      <p>This cancels <strong>${p.data.cancelled_slots}</strong> empty departure(s).</p>
      ${p.data.conflicts.length
        ? html`<p class="error">${p.data.conflicts.length} departure(s) hold bookings and stay open for you to decide:</p>
      <ul>${p.data.conflicts.map((c) => html`<li>${formatDate(c.slot_date)} ${formatTime(c.start_time)} · ${tourName(c.tour_id)} · ${
        c.current_bookings} booked <a href="#manifest/${c.slot_id}">manifest</a></li>`)}</ul>`
        : html`<p>No booked departures are affected.</p>`}
      <p class="error" id="b-stale" role="status"
        hidden>The form has changed since this preview. “Create blackout” creates the blackout previewed above;
        press “Check conflicts” to preview your changes.</p>
      <button class="btn" type="button" id="b-confirm">Create blackout</button>`);
    out.querySelector('#b-confirm').addEventListener('click', async () => {
      const c = await api('/api/calendar/admin/blackouts', { method: 'POST', body: asked });
      c.ok ? (flash(`Blackout created; ${c.data.cancelled_slots} slot(s) cancelled.`), blackoutsView())
        : setHtml(out, html`<p class="error">${problem(c)}</p>`);
    });
  });
}
