/**
 * The customer email views: the messages (#messages?status=&email=) and one
 * message (#message/ID) with its HTML and text, sent again when it gave up or
 * was held.
 */
import { api, problem } from '../api.js';
import { html, setHtml } from '../html.js';
import { say, flash } from './flash.js';
import { shell, navigate } from './shell.js';

const MESSAGE_STATUS = { queued: 'waiting to be sent', sent: 'sent', dead: 'gave up', held: 'not sent: email is off' };

export async function messagesView() {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const view = shell('messages', html`<form class="row" id="f">
    <div><label>Status<select name="status"><option value="">Any</option>${Object.keys(MESSAGE_STATUS).map((s) =>
      html`<option value="${s}" ${p.get('status') === s ? 'selected' : ''}>${s}</option>`)}</select></label></div>
    <div><label>Email<input type="email" name="email" value="${p.get('email') || ''}"></label></div>
    <div><button class="btn" type="submit">Filter</button></div></form><div id="list"><p class="skeleton"></p></div>`);
  view.querySelector('#f').addEventListener('submit', (e) => {
    e.preventDefault();
    navigate(`messages?${new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v))}`, '#list .table-wrap, #list p');
  });
  const q = new URLSearchParams([...p].filter(([k]) => k === 'status' || k === 'email'));
  q.set('limit', '200');
  const r = await api(`/api/calendar/admin/messages?${q}`);
  const list = view.querySelector('#list');
  if (!r.ok) return say(list, problem(r));
  setHtml(list, r.data.length ? html`<div class="table-wrap"><table><thead><tr><th>When</th><th>To</th><th>Subject</th><th>Status</th>
    <th>Attempts</th></tr></thead><tbody>
    ${r.data.map((m) => html`<tr><td>${new Date(m.created_at).toLocaleString()}</td><td>${m.to_email}</td>
    <td><a href="#message/${m.id}">${m.subject}</a></td>
    <td><span class="pill ${m.status}">${m.status}</span><br><span class="muted">${MESSAGE_STATUS[m.status] || ''}</span>${
      m.last_error ? html`<br><span class="muted">${m.last_error}</span>` : ''}</td>
    <td>${m.attempts}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">No messages yet.</p>`);
}

export async function messageDetail(id) {
  const view = shell('messages', html`<p class="skeleton"></p>`);
  const r = await api(`/api/calendar/admin/messages/${encodeURIComponent(id)}`);
  if (!r.ok) return say(view, problem(r));
  const m = r.data;
  setHtml(view, html`<p><a href="#messages">← All messages</a></p>
    <div class="card"><h2>${m.subject}</h2>
    <p>To <strong>${m.to_email}</strong> · <span class="pill ${m.status}">${m.status}</span> ${MESSAGE_STATUS[m.status] || ''}
    · ${m.attempts} attempt(s)${m.sent_at ? html` · sent ${new Date(m.sent_at).toLocaleString()}` : ''}</p>
    ${m.last_error ? html`<p class="error">Last error: ${m.last_error}</p>` : ''}
    ${m.status === 'dead' || m.status === 'held' ? html`<p><button class="btn" id="retry">Send again</button></p>` : ''}
    <h3>HTML</h3><iframe class="email-preview" title="The email as HTML" sandbox src="/api/calendar/admin/messages/${m.id}/html"></iframe>
    <h3>Plain text</h3><pre class="email-text">${m.text_body}</pre></div>`);
  view.querySelector('#retry')?.addEventListener('click', async () => {
    const res = await api(`/api/calendar/admin/messages/${m.id}/retry`, { method: 'POST' });
    res.ok ? flash('Queued to send again.') : flash(problem(res), false);
    if (res.ok) messageDetail(id);
  });
}
