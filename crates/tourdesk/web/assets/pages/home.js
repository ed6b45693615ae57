import { api, problem, money, isoDate, formatDate, escapeHtml } from '../api.js';

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
  box.innerHTML = `<p class="error" role="alert">${escapeHtml(problem(r))}</p>`;
} else if (!r.data.length) {
  box.innerHTML = '<p class="muted">No tours are open for booking yet.</p>';
} else {
  box.innerHTML = r.data.map((t) => `<article class="card" data-tour="${t.id}">
      <h2><a href="/tours/${t.id}">${escapeHtml(t.name)}</a></h2>
      <p class="muted">${t.duration_hours} hours · from <strong>${money(t.base_price, t.currency)}</strong></p>
      <p>${escapeHtml(t.description)}</p>
      <p class="next muted">Next available: <span class="skeleton" style="display:inline-block;width:7rem">&nbsp;</span></p>
      <a class="btn" href="/tours/${t.id}">Book</a></article>`).join('');
  for (const t of r.data) {
    nextAvailable(t.id).then((day) => {
      const el = box.querySelector(`[data-tour="${t.id}"] .next`);
      if (el) el.textContent = day ? `Next available: ${formatDate(day)}` : 'No open dates in the coming months';
    });
  }
}
