/**
 * One webhook delivery (#webhook-delivery/ID): its status, every attempt and
 * the request body, followed while it may still be attempted, and its replay.
 */
import { api, problem } from '../api.js';
import { html, setHtml } from '../html.js';
import { flash } from './flash.js';
import { shell, stillShown, poll } from './shell.js';
import { DELIVERY_STATUS, when } from './webhooks.js';

const UNFINISHED = ['pending', 'sending'];
const prettyJson = (text) => {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text || ''; }
};

function attemptLog(log) {
  if (!log.length) return html`<p class="muted">Not attempted yet.</p>`;
  const code = (a) => {
    if (a.status_code === null || a.status_code === undefined) return html`<span class="muted">no answer</span>`;
    return html`<span class="${a.status_code >= 200 && a.status_code < 300 ? 'ok' : 'error'}">${a.status_code}</span>`;
  };
  return html`<div class="table-wrap"><table><caption class="sr-only">Every attempt, newest first</caption>
    <thead><tr><th scope="col">Attempt</th><th scope="col">Time</th><th scope="col">HTTP status</th><th scope="col">Latency</th>
    <th scope="col">Error</th><th scope="col">Response</th></tr></thead><tbody>
    ${[...log].reverse().map((a) => html`<tr data-attempt="${a.attempt}"><td>${a.attempt}</td><td>${when(a.attempted_at)}</td>
      <td>${code(a)}</td>
      <td>${a.latency_ms} ms</td><td class="break-all">${a.error || html`<span class="ok">none</span>`}</td>
      <td>${a.response_excerpt ? html`<pre class="excerpt">${a.response_excerpt}</pre>`
        : html`<span class="muted">empty</span>`}</td></tr>`)}
    </tbody></table></div><p class="muted">Newest first. A replay counts its attempts from 1 again.</p>`;
}

function deliverySummary(d) {
  return html`<dl class="facts"><dt>Status</dt><dd><span class="pill ${d.status}" data-status>${d.status}</span> <span
    class="muted">${DELIVERY_STATUS[d.status] || ''}</span></dd>
    <dt>Attempts</dt><dd>${d.attempts}</dd><dt>Created</dt><dd>${when(d.created_at)}</dd>
    ${d.status === 'pending' ? html`<dt>Next attempt</dt><dd>${when(d.next_attempt_at)}</dd>` : ''}
    ${d.delivered_at ? html`<dt>Delivered</dt><dd>${when(d.delivered_at)}</dd>` : ''}
    ${d.last_error ? html`<dt>Last error</dt><dd class="error">${d.last_error}</dd>` : ''}</dl>`;
}

export async function deliveryDetail(id) {
  const view = shell('webhooks', html`<p class="skeleton"></p>`);
  const shown = stillShown();
  const path = `/api/calendar/admin/webhook-deliveries/${encodeURIComponent(id)}`;
  const r = await api(path);
  if (!shown()) return;
  if (!r.ok) {
    setHtml(view, html`<p><a href="#webhooks">← All endpoints</a></p><p class="error" role="alert">${problem(r)}</p>`);
    return;
  }
  const d = r.data;
  setHtml(view, html`<p><a href="#webhook/${d.webhook_id}">← Endpoint and its deliveries</a></p>
    <h1><code>${d.event_type}</code> <span class="muted">${d.event_id}</span></h1>
    <div class="card stacked"><div id="wd-summary" aria-live="polite"></div>
      <p class="actions no-print"><button class="btn" type="button" id="wd-replay" aria-describedby="wd-replay-help">Replay</button>
        <span class="muted"
          id="wd-replay-help">Sends this event again now: the same event id and body, freshly signed, with fresh attempts.</span></p></div>
    <h2>Attempts</h2><div id="wd-log"></div>
    <h2>Request body</h2><pre class="code-block" tabindex="0" aria-label="Request body">${prettyJson(d.body)}</pre>`);
  let rendered = '';
  const render = (x) => {
    const key = JSON.stringify([x.status, x.attempts, x.next_attempt_at, x.last_error, x.attempt_log]);
    if (key === rendered) return;
    rendered = key;
    setHtml(view.querySelector('#wd-summary'), deliverySummary(x));
    setHtml(view.querySelector('#wd-log'), attemptLog(x.attempt_log || []));
  };
  // While it may still be attempted, the page follows it.
  const refresh = async () => {
    const res = await api(path);
    if (!shown()) return;
    if (res.ok) render(res.data);
    if (!res.ok || UNFINISHED.includes(res.data.status)) poll(shown, refresh);
  };
  render(d);
  if (UNFINISHED.includes(d.status)) poll(shown, refresh);
  view.querySelector('#wd-replay').addEventListener('click', async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    const res = await api(`${path}/replay`, { method: 'POST' });
    button.disabled = false;
    if (!res.ok) return flash(problem(res), false);
    flash('Replay queued: it is sent again within seconds.');
    refresh();
  });
}
