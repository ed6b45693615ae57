/**
 * The bookings view (#bookings?q=&tour_id=&status_filter=&start_date=&end_date=&offset=):
 * search and filters, the CSV export, pages of 20, and confirming the selected bookings.
 */
import { api, problem, money, isoDate, formatDate, formatTime } from '../api.js';
import { html, setHtml } from '../html.js';
import { saveFile } from './download.js';
import { say, flash } from './flash.js';
import { shell, navigate } from './shell.js';
import { tourOptions } from './state.js';

const STATUSES = ['pending', 'confirmed', 'cancelled', 'completed', 'no_show', 'refunded'];
const FILTERS = ['tour_id', 'status_filter', 'start_date', 'end_date', 'q'];

export async function bookingsView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const limit = 20, offset = Number(p.get('offset') || 0);
  const view = shell('bookings', html`<form class="row no-print" id="f" role="search">
      <div><label for="f-q">Search</label><input id="f-q" type="search" name="q" value="${p.get('q') || ''}" maxlength="100"
        placeholder="Reference, name, email or phone" class="w-16rem"></div>
      <div><label>Tour<select name="tour_id">${tourOptions(p.get('tour_id') || '')}</select></label></div>
      <div><label>Status<select name="status_filter"><option value="">Any</option>${STATUSES.map((s) =>
        html`<option ${p.get('status_filter') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
      <div><label>Tour date from<input type="date" name="start_date" value="${p.get('start_date') || ''}"></label></div>
      <div><label>to<input type="date" name="end_date" value="${p.get('end_date') || ''}"></label></div>
      <div><button class="btn" type="submit">Filter</button></div>
      <div><button class="btn secondary" type="button" id="export">Export CSV</button></div></form>
      <div id="list"><p class="skeleton"></p></div>`);
  const form = view.querySelector('#f');
  const filters = () => new URLSearchParams([...new FormData(form)].filter(([k, v]) => FILTERS.includes(k) && String(v).trim()));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    navigate(`bookings?${filters()}`, '#count');
  });
  view.querySelector('#export').addEventListener('click', async (e) => {
    e.target.disabled = true;
    const res = await api(`/api/calendar/admin/bookings.csv?${filters()}`, { accept: 'text/csv' });
    e.target.disabled = false;
    if (!res.ok) return flash(problem(res), false);
    saveFile(`bookings-${isoDate(new Date())}.csv`, res.data);
    flash('Exported the bookings that match the filters.');
  });
  const q = new URLSearchParams([...p].filter(([k]) => FILTERS.includes(k)));
  q.set('limit', limit); q.set('offset', offset);
  const r = await api(`/api/calendar/admin/bookings?${q}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  const page = (o) => { const n = new URLSearchParams(p); n.set('offset', o); return `#bookings?${n}`; };
  const rows = r.data.bookings;
  setHtml(list, html`<div class="row account-bar no-print"><p class="muted" id="count" tabindex="-1">${r.data.total} booking(s)${
    p.get('q') ? html` matching “${p.get('q')}”` : ''}</p>
    ${rows.length ? html`<p class="actions"><span class="muted" id="picked" aria-live="polite">None selected</span>
      <button class="btn" type="button" id="bulk-confirm" disabled>Confirm selected</button></p>` : ''}</div>
    ${rows.length ? html`<div class="table-wrap"><table id="booking-list"><thead><tr>
      <th scope="col"><input type="checkbox" id="pick-all" aria-label="Select every booking on this page"></th>
      <th scope="col">Reference</th><th scope="col">Customer</th><th scope="col">Tour</th><th scope="col">When</th>
      <th scope="col">People</th><th scope="col">Total</th><th scope="col">Status</th></tr></thead><tbody>
    ${rows.map((b) => html`<tr data-booking="${b.id}"><td><input type="checkbox" data-pick value="${b.id}"
      aria-label="Select ${b.booking_reference}"></td>
    <td><a href="#booking/${b.id}">${b.booking_reference}</a></td>
    <td>${b.customer_name}<br><span class="muted">${b.customer_email}${b.customer_phone ? html` · ${b.customer_phone}` : ''}</span></td>
    <td>${b.tour_name}</td><td>${formatDate(b.tour_date)} ${formatTime(b.tour_time)}</td><td>${b.total_people}</td>
    <td>${money(b.total_amount, b.currency)}</td>
    <td><span class="pill ${b.status}">${b.status}</span></td></tr>`)}</tbody></table></div>`
    : html`<p class="muted">No bookings match.</p>`}
    <p>${offset > 0 ? html`<a class="btn secondary" href="${page(Math.max(0, offset - limit))}">‹ Newer</a>` : ''}
    ${offset + limit < r.data.total ? html`<a class="btn secondary" href="${page(offset + limit)}">Older ›</a>` : ''}</p>`);
  if (!rows.length) return;
  const boxes = [...list.querySelectorAll('[data-pick]')], all = list.querySelector('#pick-all');
  const bulk = list.querySelector('#bulk-confirm');
  const sync = () => {
    const n = boxes.filter((b) => b.checked).length;
    list.querySelector('#picked').textContent = n ? `${n} selected` : 'None selected';
    bulk.disabled = !n;
    all.checked = n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  };
  boxes.forEach((b) => b.addEventListener('change', sync));
  all.addEventListener('change', () => { boxes.forEach((b) => { b.checked = all.checked; }); sync(); });
  bulk.addEventListener('click', async () => {
    const ids = boxes.filter((b) => b.checked).map((b) => Number(b.value));
    bulk.disabled = true;
    const res = await api('/api/calendar/admin/bookings/bulk-status', { method: 'POST', body: { ids, status: 'confirmed' } });
    if (!res.ok) { bulk.disabled = false; return flash(problem(res), false); }
    const ref = (id) => rows.find((b) => b.id === id)?.booking_reference || `#${id}`;
    const failed = res.data.results.filter((x) => !x.ok);
    flash(`Confirmed ${res.data.succeeded} booking(s).${
      failed.length ? ` Not changed: ${failed.map((x) => `${ref(x.id)} (${x.detail})`).join('; ')}.` : ''}`, !failed.length);
    bookingsView();
  });
}
