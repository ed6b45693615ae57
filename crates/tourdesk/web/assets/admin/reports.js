/**
 * The reports view (#reports?from=&to=&tour=): figures from the four report
 * endpoints, each section a chart, its data as a table (in a <details>, for
 * screen readers and exact numbers) and a CSV download.
 */
import { api, problem, money, isoDate, parseDate, formatTime } from '../api.js';
import { html, setHtml } from '../html.js';
import { addDays } from './dates.js';
import { downloadCsv } from './download.js';
import { say } from './flash.js';
import { pct, longDay, legendOf, barChart, hbarChart, HEAT, heatMap } from './report-charts.js';
import { shell, stillShown } from './shell.js';
import { tourName, tourOptions } from './state.js';

// Figures from the four report endpoints, each drawn as an inline SVG chart
// by this page (no library, nothing from elsewhere), with its data as a
// table (in a <details>, for screen readers and exact numbers) and as a
// CSV download. Colours come from classes in tourdesk.css.
const REPORT_KINDS = ['daily', 'utilization', 'waitlist', 'no-shows'];
/** Short amounts for an axis ("€1.2K"); `money` elsewhere. */
const compactMoney = (currency) => (v) => {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, notation: 'compact' }).format(v);
  } catch {
    return money(v, currency);
  }
};

/** A report's frame: heading, CSV button, chart(s), a legend and the table fallback. */
function reportSection(id, title, note, chart, table, legend = '') {
  return html`<section class="card report" id="${id}" aria-labelledby="${id}-title">
    <div class="report-head"><h2 id="${id}-title">${title}</h2>
      <button class="btn secondary no-print" type="button"
        data-csv="${id}">Download CSV<span class="sr-only">: ${title}</span></button></div>
    ${note ? html`<p class="muted">${note}</p>` : ''}${chart}${legend}
    <details class="data"><summary>Table: ${title}</summary><div class="table-wrap">${table}</div></details></section>`;
}

/** Every date from `from` to `to`, as YYYY-MM-DD. */
function datesBetween(from, to) {
  const out = [];
  for (let d = parseDate(from), end = parseDate(to); d <= end && out.length < 800; d = addDays(d, 1)) out.push(isoDate(d));
  return out;
}

/** A departure's tour name as the report gives it (every departure's tour is in its `tours`). */
const departureTourName = (u) => (id) => u.tours.find((t) => t.tour_id === id)?.tour_name || tourName(id);

const headRow = (cells) => html`<thead><tr>${cells.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>`;

function dailySections(daily) {
  const dates = daily.days.map((d) => d.date);
  const counts = reportSection('rp-daily', 'Bookings and cancellations per day',
    'A booking counts on the day it was made, a cancellation on the day it happened, both on the calendar where the tour runs.',
    barChart(`Bookings and cancellations per day, ${daily.start_date} to ${daily.end_date}: `
      + `${daily.totals.bookings} bookings, ${daily.totals.cancellations} cancellations`,
      dates, [{ name: 'bookings', cls: 's-bookings', values: daily.days.map((d) => d.bookings) },
        { name: 'cancellations', cls: 's-cancellations', values: daily.days.map((d) => d.cancellations) }]),
    html`<table>${headRow(['Date', 'Bookings', 'People', 'Cancellations', 'People cancelled'])}<tbody>
      ${daily.days.map((d) => html`<tr><th scope="row"><time datetime="${d.date}">${longDay(d.date)}</time></th><td>${d.bookings}</td>
      <td>${d.people}</td><td>${d.cancellations}</td><td>${d.cancelled_people}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${daily.totals.bookings}</td><td>${daily.totals.people}</td>
      <td>${daily.totals.cancellations}</td><td>${daily.totals.cancelled_people}</td></tr></tfoot></table>`,
    legendOf([['s-bookings', 'Bookings made'], ['s-cancellations', 'Cancellations']]));
  const cur = daily.currencies;
  const revenue = reportSection('rp-revenue', 'Revenue per day',
    'Revenue is what the bookings made that day bring: their total, less what was refunded on those cancelled since '
      + '(a cancellation without a recorded refund counts as refunded in full). Gross is their total before cancellations.',
    cur.length ? cur.map((c, k) => html`<h3>${c}</h3>${barChart(`Revenue per day in ${c}, ${daily.start_date} to ${daily.end_date}: `
      + `${money(daily.totals.revenue[k].revenue, c)} in all`,
      dates, [{ name: c, cls: 's-revenue', values: daily.days.map((d) => d.revenue[k].revenue) }], compactMoney(c))}`)
      : html`<p class="muted">No revenue in this period.</p>`,
    html`<table>${headRow(['Date', ...cur.flatMap((c) => [`Revenue (${c})`, `Gross (${c})`])])}<tbody>
      ${daily.days.map((d) => html`<tr><th scope="row"><time datetime="${d.date}">${longDay(d.date)}</time></th>${d.revenue.map((m) =>
        html`<td data-currency="${m.currency}" data-kind="revenue">${money(m.revenue, m.currency)}</td><td data-currency="${m.currency}"
          data-kind="gross">${money(m.gross, m.currency)}</td>`)}</tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th>${daily.totals.revenue.map((m) =>
        html`<td data-currency="${m.currency}" data-kind="revenue">${money(m.revenue, m.currency)}</td><td data-currency="${m.currency}"
          data-kind="gross">${money(m.gross, m.currency)}</td>`)}</tr></tfoot></table>`);
  return [counts, revenue];
}

function utilizationSections(u, dates) {
  const nameOf = departureTourName(u);
  const tours = reportSection('rp-tours', 'Utilization per tour',
    'People booked as a share of the places on the departures that run in this period (cancelled, withdrawn and blacked-out departures '
      + 'left out). Places held for waitlist offers are shown apart.',
    u.tours.length ? hbarChart(`Utilization per tour: ${u.tours.map((t) => `${t.tour_name} ${pct(t.utilization_percent)}`).join(', ')}`,
      u.tours.map((t) => ({ label: t.tour_name, total: t.capacity, text: `${pct(t.utilization_percent)} (${t.booked} of ${t.capacity})`,
        parts: [{ cls: 's-booked', value: t.booked, name: 'booked' }, { cls: 's-held', value: t.held, name: 'held' }] })))
      : html`<p class="muted">No departures in this period.</p>`,
    html`<table>${headRow(['Tour', 'Departures', 'Capacity', 'Booked', 'Held', 'Utilization'])}<tbody>
      ${u.tours.map((t) => html`<tr data-tour="${t.tour_id}"><th scope="row">${t.tour_name}</th><td>${t.departures}</td>
      <td>${t.capacity}</td><td>${t.booked}</td><td>${t.held}</td><td>${pct(t.utilization_percent)}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${u.totals.departures}</td><td>${u.totals.capacity}</td><td>${u.totals.booked}</td>
      <td>${u.totals.held}</td><td>${pct(u.totals.utilization_percent)}</td></tr></tfoot></table>`,
    legendOf([['s-booked', 'Booked'], ['s-held', 'Held for the waitlist'], ['s-track', 'Free']]));
  const heat = reportSection('rp-heatmap', 'Departures by date and time',
    'Each square is the departures at that date and start time (all tours together unless one is chosen), '
      + 'coloured by the share of places booked.',
    u.departures.length ? heatMap(`Departures by date and start time, coloured by utilization: ${u.departures.length} departures, `
      + `${pct(u.totals.utilization_percent)} booked overall`, dates, u.departures)
      : html`<p class="muted">No departures in this period.</p>`,
    html`<table>${headRow(['Date', 'Time', 'Tour', 'Capacity', 'Booked', 'Held', 'Utilization'])}<tbody>
      ${u.departures.map((d) => html`<tr data-slot="${d.slot_id}"><th scope="row"><time
        datetime="${d.slot_date}">${longDay(d.slot_date)}</time></th>
      <td>${formatTime(d.start_time)}</td><td>${nameOf(d.tour_id)}</td><td>${d.capacity}</td><td>${d.booked}</td><td>${d.held}</td>
      <td>${pct(d.utilization_percent)}</td></tr>`)}</tbody></table>`,
    html`<p class="legend-title">Share of places booked:</p>${legendOf([['heat-none', 'No departure'],
      ...HEAT.map(([, cls, label]) => [cls, label])])}`);
  return [tours, heat];
}

function waitlistSection(w) {
  const t = w.totals;
  return reportSection('rp-waitlist', 'Waitlist conversion',
    'Entries for dates in this period. Conversion is the share of the entries offered spots that booked them.',
    hbarChart(`Waitlist: ${t.joined} joined, ${t.offered} offered spots, ${t.converted} converted, conversion ${pct(t.conversion_percent)}`,
      [['Joined', t.joined, 's-bookings'], ['Offered spots', t.offered, 's-held'], ['Converted', t.converted, 's-completed'],
        ['Offer expired', t.expired, 's-cancellations'], ['Left', t.cancelled, 's-unmarked'],
        ['Still waiting', t.waiting, 's-track-strong']]
        .map(([label, value, cls]) => ({ label, total: value, text: String(value), parts: [{ cls, value, name: label.toLowerCase() }] }))),
    html`<table>${headRow(['Tour', 'Joined', 'Waiting', 'Offered', 'Holding an offer', 'Converted', 'Expired', 'Left',
      'Conversion'])}<tbody>
      ${w.tours.map((r) => html`<tr data-tour="${r.tour_id}"><th scope="row">${r.tour_name}</th><td>${r.joined}</td><td>${r.waiting}</td>
      <td>${r.offered}</td><td>${r.offer_open}</td><td>${r.converted}</td><td>${r.expired}</td><td>${r.cancelled}</td>
      <td>${pct(r.conversion_percent)}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${t.joined}</td><td>${t.waiting}</td><td>${t.offered}</td><td>${t.offer_open}</td>
      <td>${t.converted}</td><td>${t.expired}</td><td>${t.cancelled}</td><td>${pct(t.conversion_percent)}</td></tr></tfoot></table>`);
}

function noShowSection(n) {
  return reportSection('rp-noshows', 'No-shows',
    'Bookings on departures dated in this period: the no-show rate is no-shows over bookings marked completed or no-show. '
      + 'Unmarked ones are still pending or confirmed on a departure that has started.',
    n.tours.length ? hbarChart(`No-shows per tour: ${n.tours.map((t) => `${t.tour_name} ${pct(t.no_show_percent)}`).join(', ')}`,
      n.tours.map((t) => ({ label: t.tour_name, total: t.completed + t.no_show + t.unmarked, text: `${pct(t.no_show_percent)} no-show`,
        parts: [{ cls: 's-completed', value: t.completed, name: 'completed' },
          { cls: 's-cancellations', value: t.no_show, name: 'no-show' }, { cls: 's-unmarked', value: t.unmarked, name: 'unmarked' }] })))
      : html`<p class="muted">No bookings marked or due to be marked in this period.</p>`,
    html`<table>${headRow(['Tour', 'Completed', 'No-show', 'Unmarked', 'No-show rate'])}<tbody>
      ${n.tours.map((t) => html`<tr data-tour="${t.tour_id}"><th scope="row">${t.tour_name}</th><td>${t.completed}</td><td>${t.no_show}</td>
      <td>${t.unmarked}</td><td>${pct(t.no_show_percent)}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">Total</th><td>${n.totals.completed}</td><td>${n.totals.no_show}</td><td>${n.totals.unmarked}</td>
      <td>${pct(n.totals.no_show_percent)}</td></tr></tfoot></table>`,
    legendOf([['s-completed', 'Completed'], ['s-cancellations', 'No-show'], ['s-unmarked', 'Unmarked']]));
}

/** The CSV files, by section: header row first. */
function reportCsv(id, { daily, util, wait, noshow }) {
  const period = `${daily.start_date}_${daily.end_date}`;
  switch (id) {
    case 'rp-daily': return [`bookings-${period}.csv`, [['date', 'bookings', 'people', 'cancellations', 'cancelled_people'],
      ...daily.days.map((d) => [d.date, d.bookings, d.people, d.cancellations, d.cancelled_people])]];
    case 'rp-revenue': return [`revenue-${period}.csv`, [['date', 'currency', 'revenue', 'gross'],
      ...daily.days.flatMap((d) => d.revenue.map((m) => [d.date, m.currency, m.revenue, m.gross]))]];
    case 'rp-tours': return [`utilization-${period}.csv`, [
      ['tour_id', 'tour', 'departures', 'capacity', 'booked', 'held', 'utilization_percent'],
      ...util.tours.map((t) => [t.tour_id, t.tour_name, t.departures, t.capacity, t.booked, t.held, t.utilization_percent])]];
    case 'rp-heatmap': return [`departures-${period}.csv`, [
      ['slot_id', 'date', 'start_time', 'tour_id', 'tour', 'capacity', 'booked', 'held', 'utilization_percent'],
      ...util.departures.map((d) => [d.slot_id, d.slot_date, d.start_time, d.tour_id, departureTourName(util)(d.tour_id), d.capacity,
        d.booked, d.held, d.utilization_percent])]];
    case 'rp-waitlist': return [`waitlist-${period}.csv`, [
      ['tour_id', 'tour', 'joined', 'waiting', 'offered', 'offer_open', 'converted', 'expired', 'cancelled', 'conversion_percent'],
      ...wait.tours.map((t) => [t.tour_id, t.tour_name, t.joined, t.waiting, t.offered, t.offer_open, t.converted, t.expired, t.cancelled,
        t.conversion_percent])]];
    default: return [`no-shows-${period}.csv`, [['tour_id', 'tour', 'completed', 'no_show', 'unmarked', 'no_show_percent'],
      ...noshow.tours.map((t) => [t.tour_id, t.tour_name, t.completed, t.no_show, t.unmarked, t.no_show_percent])]];
  }
}

export async function reportsView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const today = new Date();
  const from = p.get('from') || isoDate(addDays(today, -30));
  const to = p.get('to') || isoDate(addDays(today, 30));
  const tour = p.get('tour') || '';
  const view = shell('reports', html`<h1>Reports</h1>
    <form class="row no-print" id="rp-form" novalidate>
      <div><label for="rp-from">From</label><input id="rp-from" name="from" type="date" value="${from}" required></div>
      <div><label for="rp-to">To</label><input id="rp-to" name="to" type="date" value="${to}" required></div>
      <div><label for="rp-tour">Tour</label><select id="rp-tour" name="tour">${tourOptions(tour)}</select></div>
      <div><button class="btn" type="submit">Show</button></div></form>
    <p id="rp-error" class="error" role="alert"></p>
    <div id="rp-body" aria-busy="true"><p class="skeleton"></p><p class="skeleton"></p></div>`);
  view.querySelector('#rp-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v));
    const next = `#reports?${q}`;
    if (location.hash === next) reportsView(); else location.hash = next;
  });
  const shown = stillShown();
  const q = new URLSearchParams({ start_date: from, end_date: to });
  if (tour) q.set('tour_id', tour);
  const [daily, util, wait, noshow] = await Promise.all(REPORT_KINDS.map((k) => api(`/api/calendar/admin/reports/${k}?${q}`)));
  if (!shown()) return;
  const body = view.querySelector('#rp-body');
  body.setAttribute('aria-busy', 'false');
  body.dataset.loaded = `${from}/${to}/${tour}`;
  const failed = [daily, util, wait, noshow].find((r) => !r.ok);
  if (failed) { setHtml(body, html``); return say(view.querySelector('#rp-error'), problem(failed)); }
  const data = { daily: daily.data, util: util.data, wait: wait.data, noshow: noshow.data };
  const t = data.daily.totals, scope = tour ? tourName(Number(tour)) : 'All tours';
  setHtml(body, html`<p class="muted" id="rp-scope">${scope}, ${longDay(from)} to ${longDay(to)}.</p>
    <dl class="report-figures" id="rp-figures">
      <div class="figure"><dt>Bookings made</dt><dd>${t.bookings}</dd></div>
      <div class="figure"><dt>Cancellations</dt><dd>${t.cancellations}</dd></div>
      ${t.revenue.map((m) => html`<div class="figure"><dt>Revenue (${m.currency})</dt><dd>${money(m.revenue, m.currency)}</dd></div>`)}
      <div class="figure"><dt>Utilization</dt><dd>${pct(data.util.totals.utilization_percent)}</dd></div>
      <div class="figure"><dt>Waitlist conversion</dt><dd>${pct(data.wait.totals.conversion_percent)}</dd></div>
      <div class="figure"><dt>No-show rate</dt><dd>${pct(data.noshow.totals.no_show_percent)}</dd></div></dl>
    ${dailySections(data.daily)}${utilizationSections(data.util, datesBetween(from, to))}${waitlistSection(data.wait)}${
      noShowSection(data.noshow)}`);
  body.querySelectorAll('[data-csv]').forEach((b) => b.addEventListener('click', () => downloadCsv(...reportCsv(b.dataset.csv, data))));
}
