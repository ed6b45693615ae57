// Markup built from data, escaped by default.
//
//   setHtml(el, html`<p class="${cls}">${name}</p>${items.map((i) => html`<li>${i}</li>`)}`);
//
// `html` is a tagged template: every interpolated value is escaped (& < > " '
// and backtick) so it is safe in text and in quoted attribute values. Values
// that are themselves made by `html` (or `raw`) are inserted as they are, and
// arrays are joined with each item treated the same way, so fragments nest.
// null and undefined give nothing. `raw` is for constant markup written in
// this code, never for data. `setHtml` is the one way markup
// reaches the page: it accepts fragments only, never plain strings.
//
// Escaping does not make a URL safe: never interpolate data at the start of an
// href or src (use fixed prefixes like href="#booking/${id}").
//
// No `style` attribute either: the pages' Content-Security-Policy
// (`style-src 'self'`) refuses inline styles. Use a class from tourdesk.css,
// or set a computed value through the CSSOM (`el.style.width = ...`).

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text for HTML text or a quoted attribute value. */
export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

/** Markup that is safe to insert: made by `html` or `raw` only. */
class SafeHtml {
  #markup;
  constructor(markup) { this.#markup = markup; }
  toString() { return this.#markup; }
}

function part(value) {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(part).join('');
  if (value === null || value === undefined) return '';
  return escapeHtml(value);
}

/** Tagged template: escapes every interpolation that is not already a fragment. */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/**
 * Trusted constant markup, as a tag (raw`<b>x</b>`, which refuses
 * interpolations) or a call on a constant string (raw(STYLE)). Never data.
 */
export function raw(strings, ...values) {
  if (Array.isArray(strings) && strings.raw) {
    if (values.length) throw new TypeError('raw`` takes no interpolations; use html``');
    return new SafeHtml(strings.join(''));
  }
  if (typeof strings !== 'string') throw new TypeError('raw() takes a constant string');
  return new SafeHtml(strings);
}

/** Fragments (or values, escaped) joined by a separator (a fragment or text). */
export function join(items, separator = '') {
  return html`${[...items].flatMap((item, i) => (i ? [separator, item] : [item]))}`;
}

/** Replaces the content of an element or shadow root with a fragment. */
export function setHtml(el, fragment) {
  if (!(fragment instanceof SafeHtml)) throw new TypeError('setHtml takes markup built with html``');
  el.innerHTML = fragment.toString();
}
