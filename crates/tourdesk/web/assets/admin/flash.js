/**
 * Messages to the operator: `say` puts a text (an error, or a confirmation)
 * in an element, and `flash` shows one in the view's status line, where it
 * outlives the re-render that usually follows the action it reports.
 */

export const say = (el, text, ok = false) => { el.className = ok ? 'ok' : 'error'; el.textContent = text; };
// A message outlives the re-render that usually follows the action it reports.
let pendingFlash = null;

/** Shows in `el` the message flashed just before (at most 2 s ago), once. */
export function showPendingFlash(el) {
  if (pendingFlash && Date.now() - pendingFlash.at < 2000) say(el, pendingFlash.text, pendingFlash.ok);
  pendingFlash = null;
}

export const flash = (text, ok = true) => {
  pendingFlash = { text, ok, at: Date.now() };
  const el = document.getElementById('flash');
  if (el) say(el, text, ok);
};
