/**
 * Errors in the console's forms: a 422's detail under the field it names
 * (`fieldError`, `nearestFieldError` for a field inside a list such as a policy
 * tier), anything else under the form (`formProblem`), and clearing them.
 */
import { problem } from '../api.js';
import { say } from './flash.js';

/** Shows `text` under the form's `field`; false when the form has no such field. */
export function fieldError(form, field, text) {
  const slot = [...form.querySelectorAll('[data-field-err]')].find((el) => el.dataset.fieldErr === field);
  if (!slot) return false;
  slot.textContent = text;
  const control = form.elements.namedItem(field === 'events' ? 'all_events' : field);
  if (control instanceof HTMLElement) {
    control.setAttribute('aria-invalid', 'true');
    control.focus();
  }
  return true;
}

export function clearErrors(form) {
  form.querySelectorAll('[data-field-err]').forEach((el) => { el.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  form.querySelector('[data-err]').textContent = '';
}

/** Shows a form's 422 under its field, anything else under the form. */
export function formProblem(form, r) {
  if (!(r.status === 422 && r.data?.field && fieldError(form, r.data.field, problem(r)))) say(form.querySelector('[data-err]'), problem(r));
}

/**
 * Shows a 422 under the field it names, else under the nearest enclosing
 * one (`cancellation_policy.tiers[1].refund_percent`, then
 * `cancellation_policy.tiers[1]`, `cancellation_policy.tiers`, ...); false
 * when the form has none of them.
 */
export function nearestFieldError(form, field, text) {
  const parent = /^(.*)(\[\d+\]|\.[^.[\]]+)$/;
  for (let f = field; f;) {
    if (fieldError(form, f, text)) return true;
    const m = parent.exec(f);
    f = m ? m[1] : '';
  }
  return false;
}
