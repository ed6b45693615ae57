/**
 * The webhook endpoint views: the endpoints (#webhooks) with the form for a
 * new one, and one endpoint (#webhook/ID?status=) with its settings, its secret
 * (shown once, when set) and its deliveries, refreshed while shown.
 */
import { api, problem } from '../api.js';
import { html, join, raw, setHtml } from '../html.js';
import { say, flash } from './flash.js';
import { fieldError, clearErrors } from './forms.js';
import { shell, stillShown, poll } from './shell.js';

// Endpoints, their deliveries and each delivery's attempts. A secret is in
// the API's answer only when it is set (created or rotated): it is shown
// that once, and kept nowhere but on that one render.
export const DELIVERY_STATUS = {
  pending: 'waiting to be sent or retried', sending: 'being sent now', delivered: 'delivered', dead: 'gave up: replay it to try again',
};
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
let eventTypes = null;
/** {id, secret, rotated}: the secret the next render of that endpoint shows, once. */
let revealedSecret = null;


async function loadEventTypes() {
  if (eventTypes) return eventTypes;
  const r = await api('/api/calendar/admin/webhooks/event-types');
  if (r.ok && Array.isArray(r.data)) eventTypes = r.data;
  return eventTypes || [];
}

const eventsSummary = (events) => (events.includes('*')
  ? html`<strong>All events</strong>`
  : join(events.map((e) => html`<code>${e}</code>`), ', '));
const endpointBadge = (w) => (w.is_active
  ? html`<span class="pill enabled" data-badge>Active</span>`
  : html`<span class="pill paused" data-badge>Paused</span>`);
const PAUSED_NOTE = 'Paused: nothing is sent to this endpoint. Events that happen meanwhile are kept and go out when you resume it.';

const SIGNATURE_HELP = raw`<details class="card stacked help" id="wh-help"><summary>Verifying signatures</summary>
  <p>Each event is POSTed as JSON (<code>Content-Type: application/json</code>) with these headers:</p>
  <ul>
    <li><code>Tourdesk-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</code>: <code>v1</code> is the HMAC-SHA256, in lowercase hex,
      of <code>&lt;t&gt;.&lt;raw body&gt;</code> (the timestamp, a dot, then the body exactly as received), keyed with the endpoint's
      signing secret.</li>
    <li><code>Tourdesk-Event-Id</code>: the event's id (<code>evt_…</code>, also the body's <code>id</code>), the same on every retry
      and replay.</li>
    <li><code>Tourdesk-Event-Type</code>: the event type, for example <code>booking.created</code>.</li>
    <li><code>Tourdesk-Delivery-Attempt</code>: 1 for the first attempt, then 2, 3 …</li>
  </ul>
  <p>Your receiver should:</p>
  <ol>
    <li>Compute the HMAC over the raw body, before parsing it as JSON, and compare it with <code>v1</code> in constant time.</li>
    <li>Reject a <code>t</code> more than 5 minutes away from its own clock, so a captured request cannot be sent again later.</li>
    <li>Drop duplicates by <code>Tourdesk-Event-Id</code>: a retry or a replay sends the same event again.</li>
    <li>Answer with a 2xx status within a few seconds. Any other answer, no answer or a redirect counts as a failure: it is retried
      after 30 s, 1, 2, 4 … minutes (at most 6 hours apart), then given up; you can replay it from its delivery here.</li>
  </ol>
  <p>For example, in Node.js:</p>
  <pre class="code-block" tabindex="0" aria-label="Example: checking a signature in Node.js">const crypto = require('node:crypto');

// rawBody: the request body exactly as received (a Buffer or a string).
function verified(rawBody, signatureHeader, secret) {
  const parts = Object.fromEntries(signatureHeader.split(',').map((kv) =&gt; kv.split('=')));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) &gt; 300) return false;
  const expected = crypto.createHmac('sha256', secret).update(parts.t + '.').update(rawBody).digest();
  const given = Buffer.from(parts.v1 || '', 'hex');
  return given.length === expected.length &amp;&amp; crypto.timingSafeEqual(given, expected);
}</pre></details>`;

/** The form for a new endpoint (`w` null) or for editing `w`. */
function webhookForm(w, types) {
  const p = w ? 'we' : 'wn', chosen = new Set(w?.events || []), all = chosen.has('*');
  return html`<form class="card stacked" id="${p}-form" novalidate aria-labelledby="${p}-title">
    <h2 id="${p}-title">${w ? 'Edit endpoint' : 'New endpoint'}</h2>
    <label for="${p}-url">Endpoint URL</label>
    <input id="${p}-url" name="url" type="url" inputmode="url" autocomplete="off" spellcheck="false" required
      placeholder="https://hooks.example.com/tourdesk" value="${w?.url ?? ''}" aria-describedby="${p}-url-err">
    <p class="field-error" id="${p}-url-err" data-field-err="url"></p>
    <label for="${p}-description">Description <span class="muted">(optional)</span></label>
    <input id="${p}-description" name="description" maxlength="200" value="${w?.description ?? ''}" aria-describedby="${p}-description-err">
    <p class="field-error" id="${p}-description-err" data-field-err="description"></p>
    <fieldset class="event-choices" aria-describedby="${p}-events-err"><legend>Events to send</legend>
      <label class="inline-choice"><input type="checkbox" name="all_events" ${all ? 'checked' : ''} aria-describedby="${p}-events-err">
        <strong>All events</strong> <span class="muted">(including types added later)</span></label>
      <div class="choice-grid">${types.map((t) => html`<label class="inline-choice"><input type="checkbox" name="event" value="${t}"
        ${chosen.has(t) || all ? 'checked' : ''} ${all ? 'disabled' : ''}> <code>${t}</code></label>`)}</div>
    </fieldset>
    <p class="field-error" id="${p}-events-err" data-field-err="events"></p>
    ${w ? '' : html`<label for="${p}-secret">Signing secret <span class="muted">(optional)</span></label>
      <input id="${p}-secret" name="secret" autocomplete="off" spellcheck="false" aria-describedby="${p}-secret-help ${p}-secret-err">
      <p class="muted"
        id="${p}-secret-help">16 to 256 printable characters without spaces. Leave it empty and Tourdesk makes a strong one for you.</p>
      <p class="field-error" id="${p}-secret-err" data-field-err="secret"></p>`}
    <p class="actions"><button class="btn" type="submit">${w ? 'Save endpoint' : 'Add endpoint'}</button>
      ${w ? html`<button class="btn secondary" type="button" data-cancel>Cancel</button>` : ''}</p>
    <p class="error" role="alert" data-err></p></form>`;
}

/**
 * Wires the endpoint form: "All events" stands for every type; `submit`
 * gets the request body and answers the API's response. A 422 shows its
 * detail under the field it names.
 */
function wireWebhookForm(form, submit) {
  const all = form.elements.namedItem('all_events');
  const boxes = [...form.querySelectorAll('input[name="event"]')];
  const sync = () => boxes.forEach((b) => { b.disabled = all.checked; if (all.checked) b.checked = true; });
  all.addEventListener('change', () => {
    sync();
    if (!all.checked) boxes.forEach((b) => { b.checked = false; });
  });
  form.addEventListener('reset', () => setTimeout(() => { clearErrors(form); sync(); }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const events = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
    if (!events.length) return fieldError(form, 'events', 'Choose at least one event, or All events.');
    const body = { url: form.elements.namedItem('url').value.trim(), description: form.elements.namedItem('description').value.trim(),
      events };
    const secret = form.elements.namedItem('secret')?.value.trim();
    if (secret) body.secret = secret;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const r = await submit(body);
    button.disabled = false;
    if (r.ok) return;
    if (!(r.status === 422 && r.data?.field && fieldError(form, r.data.field, problem(r)))) {
      say(form.querySelector('[data-err]'), problem(r));
    }
  });
}

/** Pauses or resumes `w`; says what happened. */
async function setActive(w, active) {
  const r = await api(`/api/calendar/admin/webhooks/${w.id}`, { method: 'PATCH', body: { is_active: active } });
  if (!r.ok) flash(problem(r), false);
  else flash(active ? 'Endpoint resumed: the deliveries kept while it was paused go out now.'
    : 'Endpoint paused: events are kept and sent when you resume it.');
  return r;
}

export async function webhooksView(focusToggleOf) {
  const view = shell('webhooks', html`<div class="row account-bar"><h1>Webhooks</h1>
      <button class="btn" type="button" id="wh-new-toggle" aria-controls="wn-form" aria-expanded="false"
        disabled>New endpoint</button></div>
    <p class="muted">Tourdesk sends booking, waitlist and departure events to your endpoints as signed HTTP POST requests.</p>
    <div id="wh-list" aria-busy="true"><p class="skeleton"></p></div><div id="wh-new"></div>${SIGNATURE_HELP}`);
  const shown = stillShown();
  const [r, types] = await Promise.all([api('/api/calendar/admin/webhooks'), loadEventTypes()]);
  if (!shown()) return;
  const list = view.querySelector('#wh-list');
  list.setAttribute('aria-busy', 'false');
  if (!r.ok) return say(list, problem(r));
  setHtml(list, r.data.length ? html`<div class="table-wrap"><table><caption class="sr-only">Webhook endpoints</caption>
    <thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">Status</th><th scope="col">Secret</th>
    <th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>
    ${r.data.map((w) => html`<tr data-webhook="${w.id}"><td class="break-all"><a href="#webhook/${w.id}">${w.url}</a>${
      w.description ? html`<br><span class="muted">${w.description}</span>` : ''}</td>
      <td>${eventsSummary(w.events)}</td><td>${endpointBadge(w)}</td><td><code>${w.secret_hint}</code></td><td>${when(w.created_at)}</td>
      <td><button class="btn secondary" type="button" data-toggle
        aria-label="${w.is_active ? 'Pause' : 'Resume'} ${w.url}">${w.is_active ? 'Pause' : 'Resume'}</button></td></tr>`)}
    </tbody></table></div>` : html`<p class="muted">No endpoints yet. Add one to have events sent to your own systems.</p>`);
  list.querySelectorAll('[data-toggle]').forEach((b) => b.addEventListener('click', async () => {
    const w = r.data.find((x) => String(x.id) === b.closest('tr').dataset.webhook);
    b.disabled = true;
    const res = await setActive(w, !w.is_active);
    if (res.ok) webhooksView(w.id); else b.disabled = false;
  }));
  if (focusToggleOf !== undefined) list.querySelector(`tr[data-webhook="${Number(focusToggleOf)}"] [data-toggle]`)?.focus();

  setHtml(view.querySelector('#wh-new'), webhookForm(null, types));
  const form = view.querySelector('#wn-form'), toggle = view.querySelector('#wh-new-toggle');
  const open = (yes) => { form.hidden = !yes; toggle.setAttribute('aria-expanded', String(yes)); };
  open(!r.data.length);
  toggle.disabled = false;
  toggle.addEventListener('click', () => {
    open(form.hidden);
    if (!form.hidden) form.elements.namedItem('url').focus();
  });
  wireWebhookForm(form, async (body) => {
    const res = await api('/api/calendar/admin/webhooks', { method: 'POST', body });
    if (res.ok) {
      revealedSecret = { id: res.data.id, secret: res.data.secret, rotated: false };
      flash('Endpoint added.');
      location.hash = `webhook/${res.data.id}`;
    }
    return res;
  });
}

function secretBox(secret, rotated) {
  return html`<section class="card secret-reveal stacked" id="wh-secret-box" aria-labelledby="wh-secret-title">
    <h2 id="wh-secret-title" tabindex="-1">${rotated ? 'Your new signing secret' : 'Your signing secret'}</h2>
    <p><strong>Copy it now: it won't be shown again.</strong>
      ${rotated ? 'The old secret no longer signs deliveries: give your receiver this one now.'
        : 'Your receiver needs it to check the signature of every delivery.'}</p>
    <p><code class="secret-value" id="wh-secret">${secret}</code></p>
    <p class="actions"><button class="btn" type="button" id="wh-copy">Copy secret</button>
      <button class="btn secondary" type="button" id="wh-secret-done">I have saved it</button></p>
    <p id="wh-copy-status" role="status"></p></section>`;
}

function wireSecretBox(view) {
  const box = view.querySelector('#wh-secret-box');
  if (!box) return;
  const code = box.querySelector('#wh-secret'), out = box.querySelector('#wh-copy-status');
  box.querySelector('#wh-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
      say(out, 'Copied to the clipboard.', true);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      say(out, 'Selected: press Ctrl+C (⌘C on a Mac) to copy it.', true);
    }
  });
  box.querySelector('#wh-secret-done').addEventListener('click', () => {
    box.remove();
    view.querySelector('h1')?.focus();
  });
  box.querySelector('#wh-secret-title').focus();
}

function deliveriesTable(list, filtered) {
  if (!list.length) {
    return html`<p class="muted">${filtered ? 'No deliveries with this status.'
      : 'No deliveries yet: each event this endpoint subscribes to shows here within seconds of happening.'}</p>`;
  }
  const next = (d) => {
    if (d.status === 'delivered') return `delivered ${when(d.delivered_at)}`;
    if (d.status === 'pending') return `${d.attempts ? 'retry' : 'due'} ${when(d.next_attempt_at)}`;
    return d.status === 'sending' ? 'now' : '—';
  };
  return html`<div class="table-wrap"><table><caption class="sr-only">Deliveries to this endpoint, newest first</caption>
    <thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Created</th>
    <th scope="col">Next attempt</th><th scope="col">Last error</th></tr></thead><tbody>
    ${list.map((d) => html`<tr data-delivery="${d.id}"><td><a href="#webhook-delivery/${d.id}">${d.event_type}</a><br><code
      class="muted">${d.event_id}</code></td>
      <td><span class="pill ${d.status}">${d.status}</span><br><span class="muted">${DELIVERY_STATUS[d.status] || ''}</span></td>
      <td>${d.attempts}</td><td>${when(d.created_at)}</td><td>${next(d)}</td><td class="break-all">${d.last_error || ''}</td></tr>`)}
    </tbody></table></div>`;
}

export async function webhookView(id) {
  const view = shell('webhooks', html`<p class="skeleton"></p>`);
  const shown = stillShown();
  const reveal = revealedSecret && String(revealedSecret.id) === String(id) ? revealedSecret : null;
  revealedSecret = null;
  const [r, types] = await Promise.all([api(`/api/calendar/admin/webhooks/${encodeURIComponent(id)}`), loadEventTypes()]);
  if (!shown()) return;
  if (!r.ok) {
    setHtml(view, html`<p><a href="#webhooks">← All endpoints</a></p><p class="error" role="alert">${problem(r)}</p>`);
    return;
  }
  const w = r.data;
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const status = Object.hasOwn(DELIVERY_STATUS, p.get('status') || '') ? p.get('status') : '';
  setHtml(view, html`<p><a href="#webhooks">← All endpoints</a></p>
    <h1 class="break-all" tabindex="-1">${w.url} ${endpointBadge(w)}</h1>
    ${reveal ? secretBox(reveal.secret, reveal.rotated) : ''}
    <div class="card stacked">
      ${w.description ? html`<p id="wh-description" class="break-all">${w.description}</p>` : ''}
      ${w.is_active ? '' : html`<p class="muted">${PAUSED_NOTE}</p>`}
      <dl class="facts"><dt>Events</dt><dd>${eventsSummary(w.events)}</dd>
        <dt>Signing secret</dt><dd><code>${w.secret_hint}</code> <span class="muted">(its last characters)</span></dd>
        <dt>Created</dt><dd>${when(w.created_at)}</dd><dt>Last changed</dt><dd>${when(w.updated_at)}</dd></dl>
      <div class="actions no-print">
        <button class="btn secondary" type="button" id="wh-toggle">${w.is_active ? 'Pause' : 'Resume'}</button>
        <button class="btn secondary" type="button" id="wh-edit" aria-controls="we-form" aria-expanded="false">Edit</button>
        <button class="btn secondary" type="button" id="wh-rotate">Rotate secret</button>
        <button class="btn danger" type="button" id="wh-delete">Delete</button></div></div>
    ${webhookForm(w, types)}
    <h2>Deliveries</h2>
    <form class="row no-print" id="wh-filter">
      <div><label>Status<select name="status"><option value="">Any</option>${Object.keys(DELIVERY_STATUS).map((s) =>
        html`<option value="${s}" ${status === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
      <div><button class="btn" type="submit">Filter</button> <button class="btn secondary" type="button"
        id="wh-refresh">Refresh</button></div></form>
    <div id="wh-deliveries" aria-busy="true"><p class="skeleton"></p></div>
    ${SIGNATURE_HELP}`);
  wireSecretBox(view);

  view.querySelector('#wh-toggle').addEventListener('click', async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    const res = await setActive(w, !w.is_active);
    if (!res.ok) { button.disabled = false; return; }
    await webhookView(id);
    document.getElementById('wh-toggle')?.focus();
  });
  const form = view.querySelector('#we-form'), edit = view.querySelector('#wh-edit');
  const editing = (yes) => { form.hidden = !yes; edit.setAttribute('aria-expanded', String(yes)); };
  editing(false);
  edit.addEventListener('click', () => {
    editing(form.hidden);
    if (!form.hidden) form.elements.namedItem('url').focus();
  });
  form.querySelector('[data-cancel]').addEventListener('click', () => { form.reset(); editing(false); edit.focus(); });
  wireWebhookForm(form, async (body) => {
    const res = await api(`/api/calendar/admin/webhooks/${w.id}`, { method: 'PATCH', body });
    if (res.ok) { flash('Endpoint saved.'); webhookView(id); }
    return res;
  });
  view.querySelector('#wh-rotate').addEventListener('click', async () => {
    if (!confirm('Rotate the signing secret? The current secret stops working at once: every delivery from now on, retries included, '
      + 'is signed with the new one. Give your receiver the new secret right away.')) return;
    const res = await api(`/api/calendar/admin/webhooks/${w.id}/secret`, { method: 'POST' });
    if (!res.ok) return flash(problem(res), false);
    revealedSecret = { id: w.id, secret: res.data.secret, rotated: true };
    flash('Secret rotated.');
    webhookView(id);
  });
  view.querySelector('#wh-delete').addEventListener('click', async () => {
    if (!confirm(`Delete the endpoint ${w.url}? Nothing more is sent to it, and its delivery log is deleted too.`)) return;
    const res = await api(`/api/calendar/admin/webhooks/${w.id}`, { method: 'DELETE' });
    if (!res.ok) return flash(problem(res), false);
    flash('Endpoint deleted.');
    location.hash = 'webhooks';
  });

  view.querySelector('#wh-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    const s = e.target.elements.namedItem('status').value;
    location.hash = s ? `webhook/${w.id}?status=${encodeURIComponent(s)}` : `webhook/${w.id}`;
  });
  // The list refreshes itself while shown, and re-renders only on a change
  // (so the keyboard focus stays where it is).
  const box = view.querySelector('#wh-deliveries');
  let rendered = '';
  const load = async (force = false) => {
    const q = new URLSearchParams({ limit: '100' });
    if (status) q.set('status', status);
    const d = await api(`/api/calendar/admin/webhooks/${w.id}/deliveries?${q}`);
    if (!shown()) return;
    const key = JSON.stringify([d.status, d.data]);
    if (force || key !== rendered) {
      rendered = key;
      if (d.ok) setHtml(box, deliveriesTable(d.data, Boolean(status)));
      else say(box, problem(d));
    }
    box.setAttribute('aria-busy', 'false');
    poll(shown, () => load());
  };
  view.querySelector('#wh-refresh').addEventListener('click', () => load(true));
  load(true);
}
