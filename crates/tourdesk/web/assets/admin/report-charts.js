/**
 * The reports' charts, drawn here as inline SVG (no library, nothing from
 * elsewhere): vertical bars per day, horizontal bars per row, and a heat map of
 * departures by date and time, with their labels. Colours come from classes in
 * tourdesk.css.
 */
import { formatDate, formatTime } from '../api.js';
import { html } from '../html.js';

export const pct = (v) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(1)}%`);
const dayLabel = (iso) => formatDate(iso, { day: 'numeric', month: 'short' });
export const longDay = (iso) => formatDate(iso, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
/** The chart's width in SVG units; it scales to the page. */
const CHART_W = 760;

/** The smallest "round" number (1, 2 or 5 × 10^n) at or above `v`. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** A date label under column `i` of `n` (each `w` wide from `x0`): the first and last stay inside the chart. */
function columnLabel(i, n, x0, w, y, text) {
  const [x, anchor] = n > 1 && i === 0 ? [x0, 'start'] : n > 1 && i === n - 1 ? [x0 + n * w, 'end'] : [x0 + i * w + w / 2, 'middle'];
  return html`<text x="${x}" y="${y}" text-anchor="${anchor}">${text}</text>`;
}

/** Every `step`-th index (and the last) of `n` labels, at most about `most` of them. */
const labelled = (n, most = 10) => {
  const step = Math.max(1, Math.ceil(n / most));
  return (i) => i === n - 1 || (i % step === 0 && (step === 1 || n - 1 - i >= step));
};

export const legendOf = (items) => html`<ul class="legend">${items.map(([cls, label]) =>
  html`<li><span class="swatch ${cls}"></span>${label}</li>`)}</ul>`;

/** An SVG wrapper that is one image to assistive technology, named by `label`. */
function svgFigure(label, height, body) {
  return html`<svg class="chart" role="img" aria-label="${label}" viewBox="0 0 ${CHART_W} ${height}"
    preserveAspectRatio="xMidYMid meet"><title>${label}</title>${body}</svg>`;
}

/**
 * Vertical bars per category (a day), one bar per series side by side:
 * series = [{name, cls, values}], values by category.
 */
export function barChart(label, categories, series, format = String) {
  const H = 220, left = 56, right = 8, top = 10, bottom = 28;
  const plotW = CHART_W - left - right, plotH = H - top - bottom;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const slot = plotW / Math.max(1, categories.length);
  const barW = Math.max(0.5, (slot * 0.8) / series.length);
  const y = (v) => top + plotH - (plotH * v) / max;
  const show = labelled(categories.length);
  return svgFigure(label, H, html`
    ${[0, max / 2, max].map((v) => html`<line class="grid" x1="${left}" x2="${CHART_W - right}" y1="${y(v)}" y2="${y(v)}"></line>
      <text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${format(v)}</text>`)}
    ${categories.map((c, i) => html`<g>${series.map((s, k) => html`<rect class="${s.cls}" x="${left + i * slot + slot * 0.1 + k * barW}"
      y="${y(s.values[i])}" width="${barW}" height="${Math.max(0, top + plotH - y(s.values[i]))}"><title>${longDay(c)}: ${
      format(s.values[i])} ${s.name}</title></rect>`)}
      ${show(i) ? columnLabel(i, categories.length, left, slot, H - 10, dayLabel(c)) : ''}</g>`)}
    <line class="axis" x1="${left}" x2="${CHART_W - right}" y1="${top + plotH}" y2="${top + plotH}"></line>`);
}

/** Horizontal bars, one per row: rows = [{label, parts: [{cls, value, name}], total, text}]. */
export function hbarChart(label, rows) {
  const rowH = 30, left = 190, right = 150, top = 6;
  const H = top * 2 + rowH * Math.max(1, rows.length);
  const plotW = CHART_W - left - right;
  const max = Math.max(1, ...rows.map((r) => r.total));
  return svgFigure(label, H, html`${rows.map((r, i) => {
    let x = left;
    const yy = top + i * rowH;
    return html`<g><text x="${left - 8}" y="${yy + rowH / 2 + 4}"
      text-anchor="end">${r.label.length > 28 ? `${r.label.slice(0, 27)}…` : r.label}</text>
      <rect class="s-track" x="${left}" y="${yy + 6}" width="${plotW}" height="${rowH - 12}"></rect>
      ${r.parts.map((p) => {
        const w = (plotW * p.value) / max;
        const el = html`<rect class="${p.cls}" x="${x}" y="${yy + 6}" width="${w}"
          height="${rowH - 12}"><title>${r.label}: ${p.value} ${p.name}</title></rect>`;
        x += w;
        return el;
      })}
      <text x="${left + plotW + 8}" y="${yy + rowH / 2 + 4}">${r.text}</text></g>`;
  })}`);
}

export const HEAT = [[0, 'heat-0', 'none booked'], [25, 'heat-1', 'under 25%'], [50, 'heat-2', '25–49%'], [75, 'heat-3', '50–74%'],
  [Infinity, 'heat-4', '75% or more']];
const heatClass = (p) => (p === 0 ? 'heat-0' : HEAT.find(([below], i) => i > 0 && p < below)?.[1] || 'heat-4');

/** Departures by date (columns) and start time (rows), coloured by how full they are. */
export function heatMap(label, dates, departures) {
  const cells = new Map();
  for (const d of departures) {
    const key = `${d.slot_date} ${d.start_time}`;
    const c = cells.get(key) || { date: d.slot_date, time: d.start_time, capacity: 0, booked: 0, held: 0, n: 0 };
    c.capacity += d.capacity; c.booked += d.booked; c.held += d.held; c.n += 1;
    cells.set(key, c);
  }
  const times = [...new Set(departures.map((d) => d.start_time))].sort();
  const left = 52, top = 8, bottom = 26, rowH = 22;
  const H = top + bottom + rowH * Math.max(1, times.length);
  const colW = (CHART_W - left - 8) / Math.max(1, dates.length);
  const col = new Map(dates.map((d, i) => [d, i]));
  const show = labelled(dates.length);
  return svgFigure(label, H, html`
    ${times.map((t, r) => html`<text x="${left - 6}" y="${top + r * rowH + rowH / 2 + 4}" text-anchor="end">${formatTime(t)}</text>`)}
    ${[...cells.values()].filter((c) => col.has(c.date)).map((c) => {
      const p = c.capacity ? (100 * c.booked) / c.capacity : 0;
      return html`<rect class="${heatClass(p)}" data-cell="${c.date} ${c.time}" x="${left + col.get(c.date) * colW + 0.5}"
        y="${top + times.indexOf(c.time) * rowH + 1}" width="${Math.max(0.5, colW - 1)}" height="${rowH - 2}"><title>${longDay(c.date)} ${
        formatTime(c.time)}: ${c.booked} of ${c.capacity} booked (${pct(Math.round(p * 10) / 10)})${
        c.n > 1 ? `, ${c.n} departures` : ''}</title></rect>`;
    })}
    ${dates.map((d, i) => (show(i) ? columnLabel(i, dates.length, left, colW, H - 8, dayLabel(d)) : ''))}`);
}
