// The admin console's shell: sign-in (a session of the chat page in this tab is used as it is),
// the refusal non-admins get, and the sections an admin moves between. Each section is a module
// exporting mount(el, ctx), which fills el and may return a function that stops what it runs
// (polling, a live tail) when the admin leaves it. ctx: {user, api, download, show}.
import { api, el, session, saveSession, clearSession } from './api.js';
import * as projections from './admin/projections.js';
import * as events from './admin/events.js';
import * as reports from './admin/reports.js';
import * as health from './admin/health.js';

const app = document.getElementById('app');

const sections = [
  { name: 'projections', label: 'Projections', module: projections },
  { name: 'events', label: 'Event log', module: events },
  { name: 'reports', label: 'Online time', module: reports },
  { name: 'health', label: 'Health', module: health },
];

let teardown = null;

function signIn(message) {
  teardown?.();
  teardown = null;
  const username = el('input', { name: 'username', autocomplete: 'username', required: true });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = el('p', { class: 'error', role: 'alert' }, message || '');
  const f = el('form', { class: 'card', 'aria-label': 'Sign in' },
    el('h1', {}, 'Chorus admin console'),
    el('label', {}, 'Username', username), el('label', {}, 'Password', password),
    el('button', { type: 'submit' }, 'Sign in'), error,
    el('p', {}, el('a', { href: '/' }, 'To the chat')));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      saveSession(await api('POST', '/auth/login', { username: username.value, password: password.value }));
      start();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  app.replaceChildren(f);
  username.focus();
}

async function signOut() {
  try { await api('POST', '/auth/logout'); } catch { /* signed out anyway */ }
  clearSession();
  signIn();
}

function refuse(s, message) {
  app.replaceChildren(el('section', { class: 'card refusal' },
    el('h1', {}, 'Chorus admin console'),
    el('p', { class: 'error', role: 'alert', id: 'refusal' }, message),
    el('p', {}, `You are signed in as ${s.user.username}. `, el('a', { href: '/' }, 'Back to the chat'), '.'),
    el('button', { class: 'secondary', onclick: signOut }, 'Sign in as someone else')));
}

async function start() {
  const s = session();
  if (!s) return signIn();
  try {
    await api('GET', '/admin/jobs'); // answers 403 to anyone but the server's admins
  } catch (e) {
    if (e.status === 401) return; // onUnauthorized showed the form
    if (e.code === 'forbidden') return refuse(s, 'Only the server\u2019s admins can use the console (403 forbidden).');
    if (e.status !== 503) return refuse(s, e.message); // 503: no operations here; the sections say so
  }
  shell(s);
}

function shell(s) {
  const nav = el('nav', { 'aria-label': 'Sections' });
  const main = el('section', { id: 'section', class: 'section' });
  const ctx = {
    user: s.user,
    api,
    show(name) {
      const sec = sections.find((x) => x.name === name) || sections[0];
      teardown?.();
      for (const b of nav.querySelectorAll('button')) b.setAttribute('aria-current', b.dataset.section === sec.name ? 'page' : 'false');
      main.replaceChildren();
      teardown = sec.module.mount(main, ctx) || null;
      history.replaceState(null, '', '#' + sec.name);
    },
  };
  for (const sec of sections) {
    nav.append(el('button', { class: 'secondary', 'data-section': sec.name, onclick: () => ctx.show(sec.name) }, sec.label));
  }
  app.replaceChildren(
    el('header', { class: 'top' }, el('strong', {}, 'Chorus admin'), nav,
      el('span', { id: 'me' }, s.user.username),
      el('button', { class: 'secondary', id: 'signout', onclick: signOut }, 'Sign out')),
    main);
  ctx.show(location.hash.slice(1) || 'projections');
}

api.onUnauthorized = () => signIn('Your session ended: sign in again.');
window.addEventListener('pagehide', () => teardown?.());
start();
