/**
 * /admin: the operator's console, and the router that opens its views. Hash
 * routes: #slots (default), #tours, #schedules, #blackouts, #bookings,
 * #booking/ID, #at-risk, #waitlist, #notifications, #messages, #message/ID,
 * #manifest/ID, #webhooks, #webhook/ID (?status=), #webhook-delivery/ID,
 * #reports (?from=&to=&tour=). Each view is a module in ../admin/ (the shared
 * parts too: shell.js the tabs and focus, state.js the tours, forms.js,
 * dialogs.js ...); this file shows the login form, logs out, and opens the
 * view of the hash.
 */
import { session, loggedOutEverywhere, problem } from '../api.js';
import { html, setHtml } from '../html.js';
import { say, flash } from '../admin/flash.js';
import { main, routing, focusView } from '../admin/shell.js';
import { loadTours } from '../admin/state.js';
import { atRiskView } from '../admin/at-risk.js';
import { blackoutsView } from '../admin/blackouts.js';
import { bookingDetail } from '../admin/booking-detail.js';
import { bookingsView } from '../admin/bookings.js';
import { manifestView } from '../admin/manifest.js';
import { messagesView, messageDetail } from '../admin/messages.js';
import { notificationsView } from '../admin/notifications.js';
import { reportsView } from '../admin/reports.js';
import { schedulesView } from '../admin/schedules.js';
import { slotsView } from '../admin/slots.js';
import { toursView } from '../admin/tours.js';
import { waitlistView } from '../admin/waitlist.js';
import { deliveryDetail } from '../admin/webhook-delivery.js';
import { webhooksView, webhookView } from '../admin/webhooks.js';

// Bumped by every route: a route that finishes after a later one started leaves the focus alone.
let routeCount = 0;

/** The login form; `message` is an error, `note` a confirmation (logged out). */
async function login(message, note) {
  document.getElementById('logout').hidden = true;
  document.getElementById('logout-all').hidden = true;
  window.onhashchange = null;
  setHtml(main, html`<form class="card narrow-card" id="login" novalidate><h1>Admin login</h1>
    ${note ? html`<p class="ok" role="status">${note}</p>` : ''}
    ${message ? html`<p class="error" role="alert">${message}</p>` : ''}
    <label for="email">Email</label><input id="email" type="email" autocomplete="username" required>
    <label for="password">Password</label><input id="password" type="password" autocomplete="current-password" required>
    <p><button class="btn" type="submit">Log in</button></p><p class="error" role="alert" id="login-error"></p></form>`);
  document.getElementById('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = e.target.querySelector('button[type="submit"]');
    button.disabled = true;
    const r = await session.login(document.getElementById('email').value, document.getElementById('password').value);
    button.disabled = false;
    if (!r.ok) return say(document.getElementById('login-error'), problem(r));
    if (r.data.user.role !== 'admin') {
      // Do not leave a customer logged in by a visit to the console.
      await session.logout();
      return say(document.getElementById('login-error'), 'This account is not an admin.');
    }
    start('heading');
  });
}

/** Logs out here, or everywhere; back to the login form with what happened. */
async function logOut(everywhere) {
  if (everywhere && !confirm('Log out on every device and browser where this account is logged in, this one included?')) return;
  const r = everywhere ? await session.logoutEverywhere() : await session.logout();
  if (!r.ok && r.status !== 401) return flash(`You are still logged in: ${problem(r)}`, false);
  login(null, everywhere ? loggedOutEverywhere(r.data?.sessions_ended) : 'You are logged out.');
}

async function route() {
  const focus = routing.focus;
  routing.focus = 'heading';
  const mine = ++routeCount;
  document.querySelectorAll('dialog.dialog[open]').forEach((d) => d.close());
  const [name, arg] = location.hash.slice(1).split('?')[0].split('/');
  const views = {
    tours: toursView, schedules: schedulesView, blackouts: blackoutsView, bookings: bookingsView, booking: () => bookingDetail(arg),
    waitlist: waitlistView, notifications: notificationsView, messages: messagesView, message: () => messageDetail(arg),
    webhooks: () => webhooksView(), webhook: () => webhookView(arg), 'webhook-delivery': () => deliveryDetail(arg),
    manifest: () => manifestView(arg), reports: reportsView, 'at-risk': () => atRiskView(),
  };
  await (views[name] || (() => slotsView()))();
  if (mine !== routeCount || !focus) return;
  if (focus === 'tab') main.querySelector('[role="tab"][aria-selected="true"]')?.focus();
  else focusView(focus);
}

/** Shows the console once logged in as an admin; `focus` as in routing.focus. */
async function start(focus = null) {
  const me = await session.me();
  if (!me.ok) return login(me.status === 401 ? null : problem(me));
  if (me.data.role !== 'admin') return login('This account is not an admin. Log in with an admin account.');
  const out = document.getElementById('logout'), everywhere = document.getElementById('logout-all');
  out.hidden = false;
  everywhere.hidden = false;
  out.onclick = () => logOut(false);
  everywhere.onclick = () => logOut(true);
  await loadTours();
  window.onhashchange = route;
  routing.focus = focus;
  route();
}

// navigate() (shell.js) opens a route through this.
routing.route = route;
start();
