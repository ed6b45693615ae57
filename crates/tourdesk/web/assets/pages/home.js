import { api, problem, money, isoDate, formatDate } from '../api.js';
import { html, setHtml } from '../html.js';

async function nextAvailable(tourId) {
  const today = new Date();
  const todayIso = isoDate(today);
  for (let k = 0; k < 4; k++) {
    const d = new Date(today.getFullYear(), today.getMonth() + k, 1);
    const r = await api(`/api/calendar/tours/${tourId}/monthly?year=${d.getFullYear()}&month=${d.getMonth() + 1}`);
    if (!r.ok) return null;
    const day = Object.keys(r.data.availability).sort().find((k2) => k2 >= todayIso && r.data.availability[k2].has_availability);
    if (day) return day;
  }
  return null;
}

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
      <p class="muted">${t.duration_hours} hours · from <strong>${money(t.base_price, t.currency)}</strong></p>
      <p>${t.description}</p>
      <p class="next muted">Next available: <span class="skeleton inline w-7rem">&nbsp;</span></p>
      <a class="btn" href="/tours/${t.id}">Book</a></article>`)}`);
  for (const t of r.data) {
    nextAvailable(t.id).then((day) => {
      const el = box.querySelector(`[data-tour="${t.id}"] .next`);
      if (el) el.textContent = day ? `Next available: ${formatDate(day)}` : 'No open dates in the coming months';
    });
  }
}
