/**
 * The tours view (#tours): the list of tours and the tour form, with its own
 * cancellation policy (tiers) and party rules or the configuration's.
 * `defaultRules()` (the first function below) gives the defaults the form starts from.
 */
import { api, problem, money } from '../api.js';
import { html, setHtml } from '../html.js';
import { say, flash } from './flash.js';
import { clearErrors, nearestFieldError } from './forms.js';
import { shell } from './shell.js';
import { state, loadTours } from './state.js';

// A tour's own cancellation policy and party rules (issue #18), or the
// configuration's: a checkbox each. The policy is a list of tiers (at least
// so many hours before: this refund), the longest notice first.

/**
 * The configuration's policy and rules, which a new tour starts from, as the server reports them
 * (`state.settings`); should that have failed to load, as a tour that follows them shows them, and
 * failing that a full refund and any party (the server's own defaults are never guessed here).
 */
function defaultRules() {
  const fromTour = (key) => state.tours.find((t) => t[key]?.source === 'default')?.[key];
  const policy = state.settings?.cancellation_policy || fromTour('cancellation_policy');
  const party = state.settings?.party_rules || fromTour('party_rules');
  return {
    policy: policy || { tiers: [{ min_hours_before: 0, refund_percent: 100 }], fee: 0 },
    party: party || { infants_take_seat: true, max_minors_per_adult: null, max_infants_per_adult: null },
  };
}

/** "100 % back 72 h or more before; 50 % 24 h or more; 0 % after" with the fee. */
function policySummary(p, currency) {
  if (!p?.tiers?.length) return '';
  const tiers = p.tiers.map((t, i) => (t.min_hours_before > 0 ? `${t.refund_percent} % back ${t.min_hours_before} h or more before`
    : `${t.refund_percent} % ${i === 0 ? 'back at any time' : 'after that'}`)).join('; ');
  return `${tiers}${Number(p.fee) > 0 ? `; a ${money(p.fee, currency)} fee is kept` : ''}.`;
}

function partySummary(r) {
  const parts = [r.infants_take_seat === false ? 'infants sit on a lap (no seat)' : 'infants take a seat',
    r.max_minors_per_adult ? `at least one adult for every ${r.max_minors_per_adult} children and infants`
      : 'no limit of children per adult',
    r.max_infants_per_adult ? `at most ${r.max_infants_per_adult} infant(s) per adult` : 'no limit of infants per adult'];
  return `${parts.join('; ')}.`;
}

/** One tier of the policy being edited: its hours, its refund and a Remove button. */
function tierRow(t, i, n) {
  const p = `cancellation_policy.tiers[${i}]`, id = `tf-tier-${i}`;
  return html`<li class="tier" data-tier="${i}"><div class="row">
    <div><label for="${id}-hours"><span class="sr-only">Tier ${i + 1}: </span>Hours before, at least</label>
      <input id="${id}-hours" name="${p}.min_hours_before" type="number" min="0" max="8784" step="1" value="${t.min_hours_before ?? ''}"
        class="w-7rem" aria-describedby="${id}-hours-err">
      <p class="field-error" id="${id}-hours-err" data-field-err="${p}.min_hours_before"></p></div>
    <div><label for="${id}-percent"><span class="sr-only">Tier ${i + 1}: </span>Refund %</label>
      <input id="${id}-percent" name="${p}.refund_percent" type="number" min="0" max="100" step="1" value="${t.refund_percent ?? ''}"
        class="w-7rem" aria-describedby="${id}-percent-err">
      <p class="field-error" id="${id}-percent-err" data-field-err="${p}.refund_percent"></p></div>
    <div><button class="btn secondary" type="button" data-remove-tier="${i}"
      ${n <= 1 ? 'disabled' : ''}>Remove<span class="sr-only"> tier ${i + 1}</span></button></div></div>
    <p class="field-error" data-field-err="${p}"></p></li>`;
}

function tourForm(t = {}) {
  const defaults = defaultRules();
  const policy = t.cancellation_policy || { source: 'default', ...defaults.policy };
  const party = t.party_rules || { source: 'default', ...defaults.party };
  const ownPolicy = policy.source === 'tour', ownParty = party.source === 'tour';
  const currency = t.currency || 'USD';
  const optional = (v) => (v === null || v === undefined ? '' : v);
  return html`<form class="card" data-tour-form="${t.id || ''}" novalidate><h2>${t.id ? `Edit ${t.name}` : 'New tour'}</h2>
    <div class="row"><div><label>Name<input name="name" value="${t.name || ''}" required></label></div>
    <div><label>Duration (minutes)<input name="duration_minutes" type="number" min="1" value="${t.duration_minutes || 180}"></label></div>
    <div><label>Base price<input name="base_price" type="number" min="0" step="0.01" value="${t.base_price ?? ''}"></label></div>
    <div><label>Currency<input name="currency" value="${currency}" maxlength="3" class="w-6rem"></label></div>
    <div><label>Time zone<input name="timezone" value="${t.timezone || 'Asia/Jerusalem'}"></label></div>
    <div><label><input name="is_active" type="checkbox" ${t.is_active !== false ? 'checked' : ''}> Active (bookable)</label></div></div>
    <label>Description<textarea name="description">${t.description || ''}</textarea></label>
    <fieldset class="rules" data-policy><legend>Cancellation policy</legend>
      <label class="inline-choice"><input type="checkbox" name="policy_default" ${ownPolicy ? '' : 'checked'}
        aria-controls="tf-policy-own"> Use the default policy</label>
      ${!ownPolicy && t.id ? html`<p class="muted" data-default-summary>The default: ${policySummary(policy, currency)}</p>` : ''}
      <div id="tf-policy-own" data-policy-own ${ownPolicy ? '' : 'hidden'}>
        <p class="muted"
          id="tf-tiers-help">A cancellation refunds the percentage of the first tier whose hours before the departure it meets.
          List the tiers from the longest notice down; the last one starts at 0 hours.</p>
        <ol class="tiers" data-tiers aria-describedby="tf-tiers-help">${policy.tiers.map((x, i) => tierRow(x, i, policy.tiers.length))}</ol>
        <p class="field-error" data-field-err="cancellation_policy.tiers"></p>
        <p><button class="btn secondary" type="button" data-add-tier>Add tier</button></p>
        <label for="tf-fee">Fee kept from every refund (${currency})</label>
        <input id="tf-fee" name="cancellation_policy.fee" type="number" min="0" step="0.01"
          value="${Number(policy.fee) > 0 ? policy.fee : ''}" placeholder="0.00" class="w-7rem" aria-describedby="tf-fee-err">
        <p class="field-error" id="tf-fee-err" data-field-err="cancellation_policy.fee"></p></div>
      <p class="field-error" data-field-err="cancellation_policy"></p></fieldset>
    <fieldset class="rules" data-party><legend>Party rules</legend>
      <label class="inline-choice"><input type="checkbox" name="party_default" ${ownParty ? '' : 'checked'}
        aria-controls="tf-party-own"> Use the default rules</label>
      ${!ownParty && t.id ? html`<p class="muted" data-default-summary>The default: ${partySummary(party)}</p>` : ''}
      <div id="tf-party-own" data-party-own ${ownParty ? '' : 'hidden'}>
        <label class="inline-choice"><input type="checkbox" name="party_rules.infants_take_seat"
          ${party.infants_take_seat === false ? '' : 'checked'}> Infants take a seat</label>
        <p class="field-error" data-field-err="party_rules.infants_take_seat"></p>
        <div class="row"><div><label for="tf-minors">Children and infants per adult, at most <span
          class="muted">(empty: no limit)</span></label>
          <input id="tf-minors" name="party_rules.max_minors_per_adult" type="number" min="1" max="100" step="1"
            value="${optional(party.max_minors_per_adult)}" class="w-7rem" aria-describedby="tf-minors-err">
          <p class="field-error" id="tf-minors-err" data-field-err="party_rules.max_minors_per_adult"></p></div>
        <div><label for="tf-infants">Infants per adult, at most <span class="muted">(empty: no limit)</span></label>
          <input id="tf-infants" name="party_rules.max_infants_per_adult" type="number" min="1" max="100" step="1"
            value="${optional(party.max_infants_per_adult)}" class="w-7rem" aria-describedby="tf-infants-err">
          <p class="field-error" id="tf-infants-err" data-field-err="party_rules.max_infants_per_adult"></p></div></div></div>
      <p class="field-error" data-field-err="party_rules"></p></fieldset>
    <p><button class="btn" type="submit">${t.id ? 'Save tour' : 'Create tour'}</button></p><p data-err></p></form>`;
}

/** The tiers as typed so far. */
function readTiers(f) {
  const v = (el) => (el.value.trim() === '' ? null : Number(el.value));
  return [...f.querySelectorAll('[data-tiers] li[data-tier]')].map((li) => ({
    min_hours_before: v(li.querySelector('input[name$=".min_hours_before"]')),
    refund_percent: v(li.querySelector('input[name$=".refund_percent"]')),
  }));
}

/** The request body of the tour form. */
function tourBody(f) {
  const el = (n) => f.elements.namedItem(n);
  const optional = (n) => (el(n).value.trim() === '' ? null : Number(el(n).value));
  const body = { name: f.name.value, description: f.description.value, duration_minutes: Number(f.duration_minutes.value),
    base_price: f.base_price.value, currency: f.currency.value, timezone: f.timezone.value, is_active: f.is_active.checked };
  if (el('policy_default').checked) body.cancellation_policy = null;
  else {
    body.cancellation_policy = { tiers: readTiers(f) };
    const fee = el('cancellation_policy.fee').value.trim();
    body.cancellation_policy.fee = fee || '0';
  }
  body.party_rules = el('party_default').checked ? null : {
    infants_take_seat: el('party_rules.infants_take_seat').checked,
    max_minors_per_adult: optional('party_rules.max_minors_per_adult'),
    max_infants_per_adult: optional('party_rules.max_infants_per_adult'),
  };
  return body;
}

/** Wires the tour form: the default checkboxes, the tiers' Add and Remove, and saving. */
function wireTourForm(f, saved) {
  const own = (box, part) => {
    const sync = () => {
      f.querySelector(part).hidden = box.checked;
      const summary = box.closest('fieldset').querySelector('[data-default-summary]');
      if (summary) summary.hidden = !box.checked;
    };
    box.addEventListener('change', () => {
      sync();
      if (!box.checked) f.querySelector(`${part} input`)?.focus();
    });
  };
  own(f.elements.namedItem('policy_default'), '[data-policy-own]');
  own(f.elements.namedItem('party_default'), '[data-party-own]');
  const list = f.querySelector('[data-tiers]');
  const draw = (tiers, focus) => {
    setHtml(list, html`${tiers.map((x, i) => tierRow(x, i, tiers.length))}`);
    if (focus) list.querySelector(focus)?.focus();
  };
  f.querySelector('[data-add-tier]').addEventListener('click', () => {
    const tiers = readTiers(f);
    tiers.push({ min_hours_before: 0, refund_percent: 0 });
    draw(tiers, `li[data-tier="${tiers.length - 1}"] input`);
  });
  list.addEventListener('click', (e) => {
    const b = e.target.closest('[data-remove-tier]');
    if (!b) return;
    const i = Number(b.dataset.removeTier), tiers = readTiers(f);
    tiers.splice(i, 1);
    draw(tiers);
    (list.querySelector(`li[data-tier="${Math.min(i, tiers.length - 1)}"] [data-remove-tier]:not(:disabled)`)
      || f.querySelector('[data-add-tier]')).focus();
  });
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const id = f.dataset.tourForm;
    const r = await api(id ? `/api/calendar/admin/tours/${id}` : '/api/calendar/admin/tours',
      { method: id ? 'PUT' : 'POST', body: tourBody(f) });
    if (!r.ok) {
      const field = r.data?.field || '';
      const text = problem(r).startsWith(`${field}: `) ? problem(r).slice(field.length + 2) : problem(r);
      if (!(r.status === 422 && field && nearestFieldError(f, field, text))) say(f.querySelector('[data-err]'), problem(r));
      return;
    }
    saved(r.data, id);
  });
}

export async function toursView() {
  const view = shell('tours', html`<div id="tour-list"></div>${tourForm()}`);
  const rulesText = (t) => `${t.cancellation_policy?.source === 'tour' ? 'own' : 'default'} policy · `
    + `${t.party_rules?.source === 'tour' ? 'own' : 'default'} party rules`;
  const render = () => {
    setHtml(view.querySelector('#tour-list'), state.tours.length
      ? html`<div class="table-wrap"><table><thead><tr><th>Tour</th><th>Duration</th><th>Price</th><th>Time zone</th><th>Rules</th>
      <th>Status</th><th><span class="sr-only">Actions</span></th></tr></thead><tbody>
      ${state.tours.map((t) => html`<tr data-tour="${t.id}"><td>${t.name}</td><td>${t.duration_hours} h</td>
      <td>${money(t.base_price, t.currency)}</td><td>${t.timezone}</td>
      <td data-rules>${rulesText(t)}</td><td>${t.is_active ? 'active' : 'inactive'}</td><td><button class="btn secondary"
        data-edit="${t.id}">Edit<span class="sr-only"> ${t.name}</span></button></td></tr>`)}</tbody></table></div>`
      : html`<p class="muted">No tours yet.</p>`);
    view.querySelectorAll('[data-edit]').forEach((b) => b.addEventListener('click', () => {
      const t = state.tours.find((x) => String(x.id) === b.dataset.edit);
      const form = document.createElement('template');
      setHtml(form, tourForm(t));
      view.querySelector('[data-tour-form]').replaceWith(form.content);
      wireForm();
      view.querySelector('[data-tour-form] input').focus();
    }));
  };
  const wireForm = () => wireTourForm(view.querySelector('[data-tour-form]'), async (tour, id) => {
    await loadTours();
    flash(id ? 'Tour saved.' : `Tour “${tour.name}” created.`);
    toursView();
  });
  render();
  wireForm();
}
