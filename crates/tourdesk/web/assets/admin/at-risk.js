/**
 * The at-risk view (#at-risk): departures below their minimum, soonest
 * decision first, each with its Guarantee button and its decision deadline.
 */
import { api, problem, formatDate, formatTime } from '../api.js';
import { html, setHtml } from '../html.js';
import { say, flash } from './flash.js';
import { tourZone, deadlineText, decisionForm, wireDecisionForm, guaranteeDeparture } from './minimum.js';
import { shell, stillShown } from './shell.js';
import { tourName } from './state.js';

/** Departures below their minimum, soonest decision first, with the guarantee and the deadline at hand. */
export async function atRiskView(focusSelector) {
  const view = shell('at-risk', html`<h1 id="ar-title">Departures at risk</h1>
    <p class="muted">Departures that have not reached their minimum, soonest decision first. At its deadline a departure still short of its
      minimum is cancelled and its customers are refunded in full; one that has its minimum is guaranteed. Guarantee one to run it anyway,
      or give it more time.</p>
    <div id="ar-list" aria-busy="true"><p class="skeleton"></p><p class="skeleton"></p></div>`);
  const shown = stillShown();
  const r = await api('/api/calendar/admin/departures/at-risk');
  if (!shown()) return;
  const list = view.querySelector('#ar-list');
  list.setAttribute('aria-busy', 'false');
  if (!r.ok) return say(list, problem(r));
  let rows = Array.isArray(r.data) ? r.data : [];
  const render = () => {
    const now = Date.now();
    setHtml(list, rows.length
      ? html`<p class="muted" id="ar-count">${rows.length} departure${rows.length === 1 ? '' : 's'} not yet guaranteed.</p>
      <div class="table-wrap"><table id="at-risk"
        class="stack-on-phone"><caption class="sr-only">Departures at risk, soonest decision first</caption>
      <thead><tr><th scope="col">Tour</th><th scope="col">Departure</th><th scope="col">Booked / minimum</th><th scope="col">Needed</th>
      <th scope="col">Decision deadline</th><th scope="col" class="no-print">Actions</th></tr></thead><tbody>
      ${rows.map((s) => {
        const g = s.guarantee || {}, zone = tourZone(s);
        const late = g.decision_at && Date.parse(g.decision_at) <= now;
        return html`<tr data-slot="${s.id}"><td data-label="Tour">${s.tour_name || tourName(s.tour_id)}</td>
          <td data-label="Departure"><time datetime="${s.starts_at}">${formatDate(s.slot_date,
            { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' })} ${formatTime(s.start_time)}</time>${
            zone ? html` <span class="muted">(${zone})</span>` : ''}
            <br><a href="#manifest/${s.id}">Manifest</a></td>
          <td data-label="Booked" data-booked>${g.booked} / ${g.min_capacity}</td>
          <td data-label="Needed" data-needed>${g.needed} more</td>
          <td data-label="Deadline" data-deadline>${deadlineText(s)}${
            late ? html`<br><span class="muted">passed: decided on the next run</span>` : ''}</td>
          <td data-label="Actions" class="no-print"><p class="actions"><button class="btn" type="button" data-guarantee>Guarantee<span
            class="sr-only"> ${s.tour_name || tourName(s.tour_id)}, ${formatDate(s.slot_date)} ${
            formatTime(s.start_time)}</span></button></p>
            ${decisionForm(s, 'ar')}</td></tr>`;
      })}</tbody></table></div>`
      : html`<p class="muted" id="ar-count"
        tabindex="-1">No departure is at risk: every departure with a minimum has reached it or been guaranteed.</p>`);
    list.querySelectorAll('tr[data-slot]').forEach((row) => {
      const s = rows.find((x) => String(x.id) === row.dataset.slot);
      row.querySelector('[data-guarantee]').addEventListener('click', (e) => guaranteeDeparture(s, e.currentTarget, (done) => {
        const i = rows.indexOf(s);
        rows = rows.filter((x) => x !== s);
        flash(done.text);
        render();
        // The focus goes to the next departure's Guarantee, else to what is left.
        const next = list.querySelectorAll('tr[data-slot] [data-guarantee]')[Math.min(i, rows.length - 1)];
        (next || list.querySelector('#ar-count') || view.querySelector('#ar-title')).focus();
      }));
      wireDecisionForm(row.querySelector('form[data-decision]'), s, (updated, text) => {
        rows = rows.map((x) => (x === s ? updated : x))
          .sort((a, b) => Date.parse(a.guarantee?.decision_at || 0) - Date.parse(b.guarantee?.decision_at || 0));
        flash(text);
        render();
        list.querySelector(`tr[data-slot="${Number(updated.id)}"] input[name="decision_at"]`)?.focus();
      });
    });
  };
  render();
  if (focusSelector) list.querySelector(focusSelector)?.focus();
}
