/**
 * What the console shares between its views: the operator's tours, loaded
 * once after the login and again when a tour is saved (`state.tours`, an object
 * so that every module sees the new list), the configuration's settings, a
 * tour's name and the tour choices of a select.
 */
import { api } from '../api.js';
import { html } from '../html.js';

/**
 * `tours`: the operator's tours, as the API lists them; `settings`: the
 * configuration's booking rules (`GET /api/calendar/admin/settings`), the
 * defaults a tour without its own follows (see `loadTours`).
 */
export const state = { tours: [], settings: null };

export const tourName = (id) => state.tours.find((t) => t.id === id)?.name || `Tour ${id}`;
export const tourOptions = (selected, any = 'All tours') =>
  html`<option value="">${any}</option>${state.tours.map((t) =>
    html`<option value="${t.id}" ${String(t.id) === String(selected) ? 'selected' : ''}>${t.name}</option>`)}`;

/** Loads the tours, and the configuration's settings the first time. */
export async function loadTours() {
  const [r, settings] = await Promise.all([api('/api/calendar/admin/tours'),
    state.settings ? null : api('/api/calendar/admin/settings')]);
  state.tours = r.ok ? r.data : [];
  if (settings?.ok) state.settings = settings.data;
}
