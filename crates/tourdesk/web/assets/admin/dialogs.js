/**
 * Modal dialogs of the console: `openDialog` (a <dialog> that goes away when
 * closed, the focus back where it was) and `confirmDialog` (a yes/no question).
 */
import { html, setHtml } from '../html.js';

/**
 * A modal <dialog> holding `body` (a form with `[data-close]` buttons);
 * removed from the page when closed, focus back on `opener`.
 */
export function openDialog(labelId, body, opener) {
  const dlg = document.createElement('dialog');
  dlg.className = 'dialog';
  dlg.setAttribute('aria-labelledby', labelId);
  setHtml(dlg, body);
  document.body.appendChild(dlg);
  dlg.addEventListener('close', () => { dlg.remove(); if (opener?.isConnected) opener.focus(); });
  dlg.querySelectorAll('[data-close]').forEach((b) => b.addEventListener('click', () => dlg.close()));
  dlg.showModal();
  return dlg;
}

/** Asks a yes/no question in a dialog; resolves to true for `ok`. */
export function confirmDialog(title, text, ok, opener, danger = false) {
  return new Promise((resolve) => {
    let answer = false;
    const dlg = openDialog('cf-title', html`<form method="dialog"><h2 id="cf-title">${title}</h2><p>${text}</p>
      <p class="actions"><button class="btn ${danger ? 'danger' : ''}" type="submit" data-ok>${ok}</button>
      <button class="btn secondary" type="button" data-close>Not now</button></p></form>`, opener);
    dlg.querySelector('[data-ok]').addEventListener('click', () => { answer = true; });
    dlg.addEventListener('close', () => resolve(answer));
  });
}
