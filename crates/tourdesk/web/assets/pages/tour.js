import { api, problem, money } from '../api.js';
import { html, setHtml } from '../html.js';
import '../booking-flow.js';

const id = location.pathname.split('/').filter(Boolean).pop();
const r = await api(`/api/calendar/tours/${id}`);
const name = document.getElementById('tour-name');
const box = document.getElementById('flow-box');
if (!r.ok) {
  name.textContent = 'Tour not found';
  setHtml(document.getElementById('tour-meta'), html`<span class="error">${problem(r)}</span>`);
  box.remove();
} else {
  name.textContent = r.data.name;
  document.title = `${r.data.name} · ${document.title.split(" · ").pop()}`;
  // "From" is the cheapest departure that can be booked now, not the base price.
  const from = r.data.from_price != null ? ` · from ${money(r.data.from_price, r.data.currency)} per adult` : '';
  document.getElementById('tour-meta').textContent =
    `${r.data.duration_hours} hours${from} · times in ${r.data.timezone}`;
  document.getElementById('tour-description').textContent = r.data.description;
  const flow = document.createElement('booking-flow');
  flow.setAttribute('tour-id', id);
  box.appendChild(flow);
}
