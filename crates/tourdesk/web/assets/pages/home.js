import { api, problem, money, formatDate } from '../api.js';
import { html, setHtml } from '../html.js';

const box = document.getElementById('tours');
const r = await api('/api/calendar/tours');
box.setAttribute('aria-busy', 'false');
if (!r.ok) {
  setHtml(box, html`<p class="error" role="alert">${problem(r)}</p>`);
} else if (!r.data.length) {
  setHtml(box, html`<p class="muted">No tours are open for booking yet.</p>`);
} else {
  setHtml(box, html`${r.data.map((t) => html`<article class="card" data-tour="${t.id}">
      <h2><a href="/tours/${t.id}">${t.name}</a></h2>
      <p class="muted">${t.duration_hours} hours${t.from_price != null ? html` · from <strong>${money(t.from_price, t.currency)}</strong>` : ''}</p>
      <p>${t.description}</p>
      <p class="next muted">${t.next_available_date ? `Next available: ${formatDate(t.next_available_date)}` : 'No open dates in the coming months'}</p>
      <a class="btn" href="/tours/${t.id}">Book</a></article>`)}`);
}
