/**
 * The waitlist view (#waitlist?tour_id=&date=&status=): the entries that match
 * the filter, each with its priority to set.
 */
import { api, problem, formatDate } from '../api.js';
import { html, setHtml } from '../html.js';
import { say, flash } from './flash.js';
import { shell, navigate } from './shell.js';
import { tourName, tourOptions } from './state.js';

export async function waitlistView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const view = shell('waitlist', html`<form class="row" id="f"><div><label>Tour<select
    name="tour_id">${tourOptions(p.get('tour_id') || '')}</select></label></div>
    <div><label>Date<input type="date" name="date" value="${p.get('date') || ''}"></label></div>
    <div><label>Status<select name="status"><option value="">Any</option>${['active', 'notified', 'converted', 'expired', 'cancelled']
      .map((s) => html`<option ${p.get('status') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
    <div><button class="btn" type="submit">Filter</button></div></form><div id="list"></div>`);
  // After filtering, the focus goes to how many entries the filter found.
  view.querySelector('#f').addEventListener('submit', (e) => {
    e.preventDefault();
    navigate(`waitlist?${new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v))}`, '#wl-count');
  });
  const r = await api(`/api/calendar/admin/waitlist?${p}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  const filtered = [...p.keys()].length > 0;
  setHtml(list, html`<p id="wl-count" class="muted" tabindex="-1">${r.data.length} waitlist entr${r.data.length === 1 ? 'y' : 'ies'}${
    filtered ? (r.data.length === 1 ? ' matches the filter' : ' match the filter') : ''}.</p>
    ${r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>Date</th><th>Tour</th><th>Customer</th><th>People</th>
    <th>Status</th><th>Priority</th></tr></thead><tbody>
    ${r.data.map((e) => html`<tr data-entry="${e.id}"><td>${formatDate(e.requested_date)}</td><td>${tourName(e.tour_id)}</td>
    <td>${e.customer_name}<br><span class="muted">${e.customer_email}</span></td>
    <td>${e.num_people}</td><td><span class="pill ${e.status}">${e.status}</span>${e.notification_expires_at && e.status === 'notified'
      ? html`<br><span class="muted">until ${new Date(e.notification_expires_at).toLocaleString()}</span>` : ''}</td>
    <td><input type="number" value="${e.priority}" class="w-5rem" aria-label="Priority"> <button class="btn secondary"
      data-prio>Set</button></td></tr>`)}</tbody></table></div>` : html`<p class="muted">Nobody is waiting.</p>`}`);
  list.querySelectorAll('[data-prio]').forEach((b) => b.addEventListener('click', async () => {
    const row = b.closest('tr');
    const res = await api(`/api/calendar/admin/waitlist/${row.dataset.entry}`,
      { method: 'PATCH', body: { priority: Number(row.querySelector('input').value) } });
    res.ok ? flash('Priority saved.') : flash(problem(res), false);
  }));
}
