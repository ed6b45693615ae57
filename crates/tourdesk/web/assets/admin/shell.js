/**
 * The console's frame: the section tabs (an ARIA tablist), the view under
 * them, where the keyboard focus goes after each route, the level-one heading
 * every view has and the names of its scrolling tables, and the bookkeeping that
 * lets a view know it is still the one on screen (`stillShown`, `poll`).
 */
import { html, setHtml } from '../html.js';
import { showPendingFlash } from './flash.js';

export const main = document.getElementById('main');

// A table too wide for the screen scrolls inside its wrapper: keyboard
// users reach it (Tab, then arrows) and screen readers hear its name.
// Every view has one level-one heading: its own, else (for screen readers
// and the page outline) the selected section's name.
/** Keeps the view's level-one heading and names the scrolling tables. */
function syncHeadings() {
  const auto = main.querySelector('h1.auto-h1');
  const own = [...main.querySelectorAll('h1')].some((h) => h !== auto);
  const tab = main.querySelector('[role="tab"][aria-selected="true"]');
  const view = document.getElementById('view');
  if (own || !tab || !view) auto?.remove();
  else if (!auto || auto.parentElement !== view) {
    auto?.remove();
    view.prepend(Object.assign(document.createElement('h1'), { className: 'auto-h1 sr-only', textContent: tab.textContent, tabIndex: -1 }));
  } else if (auto.textContent !== tab.textContent) auto.textContent = tab.textContent;
  main.querySelectorAll('.table-wrap:not([tabindex])').forEach((w) => {
    w.tabIndex = 0;
    w.setAttribute('role', 'region');
    const before = w.previousElementSibling;
    const named = w.querySelector('caption')?.textContent?.trim()
      || (before && /^H[1-3]$/.test(before.tagName) ? before.textContent.trim() : '')
      || w.closest('section, .card')?.querySelector('h1, h2')?.textContent?.trim() || 'Table';
    // Regions need distinct names: a second "Bookings" becomes "Bookings (2)".
    const taken = new Set([...main.querySelectorAll('.table-wrap[aria-label]')].map((o) => o.getAttribute('aria-label')));
    let label = named;
    for (let n = 2; taken.has(label); n += 1) label = `${named} (${n})`;
    w.setAttribute('aria-label', label);
  });
}
new MutationObserver(syncHeadings).observe(main, { childList: true, subtree: true });
const TABS = [['slots', 'Slots'], ['tours', 'Tours'], ['schedules', 'Schedules'], ['blackouts', 'Blackouts'],
  ['bookings', 'Bookings'], ['at-risk', 'At risk'], ['waitlist', 'Waitlist'], ['notifications', 'Notifications'], ['messages', 'Messages'],
  ['webhooks', 'Webhooks'], ['reports', 'Reports']];
// Bumped by every render of a view: a refresh scheduled by an earlier view
// (see `poll`) sees it has been left and stops.
let viewCount = 0;
let pollTimer = null;
// Re-renders the slots view when the phone / desktop layout switches (set by the view).
let onLayoutChange = null;
export const PHONE = matchMedia('(max-width: 640px)');
/** Sets what re-renders the view when the phone / desktop layout switches. */
export function setOnLayoutChange(fn) {
  onLayoutChange = fn;
}
PHONE.addEventListener('change', () => onLayoutChange?.());

/**
 * Shows `body` as the view of section `active`. The tabs (an ARIA tablist:
 * one tab in the Tab order, arrows, Home and End move along it and open the
 * section) stay on the page across views, so the keyboard focus on a tab
 * survives the switch.
 */
export function shell(active, body) {
  viewCount += 1;
  clearTimeout(pollTimer);
  onLayoutChange = null;
  if (!document.getElementById('view')) {
    setHtml(main, html`<div class="tabs no-print" role="tablist" aria-label="Console sections">${TABS.map(([k, label]) =>
      html`<button type="button" role="tab" id="tab-${k}" aria-controls="view" aria-selected="false" tabindex="-1"
        data-tab="${k}">${label}</button>`)}</div>
      <p id="flash" role="status" aria-live="polite"></p><section id="view" role="tabpanel"></section>`);
    wireTabs(main.querySelector('[role="tablist"]'));
  }
  main.querySelectorAll('[role="tab"]').forEach((t) => {
    const on = t.dataset.tab === active;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    // On a phone the strip scrolls sideways: the selected tab is brought to its middle (the page does not move).
    if (on) {
      const strip = t.parentElement, sr = strip.getBoundingClientRect(), tr = t.getBoundingClientRect();
      if (strip.scrollWidth > strip.clientWidth) strip.scrollLeft += (tr.left + tr.width / 2) - (sr.left + sr.width / 2);
    }
  });
  const view = document.getElementById('view');
  view.setAttribute('aria-labelledby', `tab-${active}`);
  const flashEl = document.getElementById('flash');
  flashEl.textContent = '';
  flashEl.className = '';
  showPendingFlash(flashEl);
  setHtml(view, body);
  return view;
}

/** Arrow keys, Home and End move along the tabs and open each; a click or Enter opens one and moves to its heading. */
function wireTabs(list) {
  const tabs = () => [...list.querySelectorAll('[role="tab"]')];
  list.addEventListener('click', (e) => {
    const t = e.target.closest('[role="tab"]');
    if (t) navigate(t.dataset.tab);
  });
  list.addEventListener('keydown', (e) => {
    const all = tabs(), i = all.indexOf(e.target);
    if (i < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
    if (j === undefined) return;
    e.preventDefault();
    const t = all[(j + all.length) % all.length];
    t.focus();
    navigate(t.dataset.tab, 'tab');
  });
}

// `focus`: where the keyboard focus goes once the next route has rendered:
// 'heading' (the view's h1), 'tab' (stay on the tab: arrow keys), a selector,
// or null (leave it: the first load). `route`: the router, which shows the
// view of the hash (set by pages/admin.js).
export const routing = { focus: 'heading', route: null };
/** Opens `hash`, then focuses `focus` (see routing.focus); the same hash is shown again. */
export function navigate(hash, focus = 'heading') {
  routing.focus = focus;
  if (location.hash.slice(1) === hash || (!location.hash && hash === 'slots')) routing.route();
  else location.hash = hash;
}

/** Focuses the view's heading (made focusable), else the element at `selector`. */
export function focusView(selector) {
  syncHeadings();
  const target = (selector && selector !== 'heading' && main.querySelector(selector))
    || main.querySelector('#view h1') || main.querySelector('h1');
  if (!target) return;
  if (!target.hasAttribute('tabindex') && !target.matches('a[href], button, input, select, textarea')) target.tabIndex = -1;
  target.focus();
}

/** A test that the view rendered last is still the one on screen. */
export function stillShown() {
  const mine = viewCount;
  return () => mine === viewCount;
}

/** Calls `fn` in `ms` if the view is still shown (later while the tab is hidden). One at a time. */
export function poll(shown, fn, ms = 3000) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => {
    if (!shown()) return;
    if (document.hidden) { poll(shown, fn, ms); return; }
    fn();
  }, ms);
}
