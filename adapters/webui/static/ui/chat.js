// The chat client's shell: sign-in and registration, the socket (ws.js), and the sections a
// signed-in user moves between. Each section is a module exporting mount(el, ctx, params), which
// fills el and may return a function that tears it down, and optionally navigate(params), which
// ctx.show calls instead of mounting again when the section is already shown. ctx is the one
// object sections share:
//
//   ctx.user                    the signed-in user (the login's User)
//   ctx.api(method, path, body?, opts?)  the HTTP API (api.js), On-Behalf-Of added when acting
//   ctx.socket                  the live socket (ws.js): socket.on(type, fn) → unsubscribe,
//                               socket.send(frame) → Promise of the ack's result, socket.state
//   ctx.show(section, params?)  go to a section ('rooms', 'search', 'notifications', 'orgs')
//   ctx.openRoom(roomId, seq?)  the rooms section with that room open, scrolled to seq
//   ctx.banner(text, kind?)     a dismissible line at the top (system events, errors)
//   ctx.actingFor               null, or {id, username}: commands go On-Behalf-Of that user
//                               (chosen in the header's "Act as"; a 'chorus:acting' event on
//                               window tells sections it changed)
//
// The session (token) is kept for the tab (sessionStorage); a 401 on any call, a socket closed
// with 4001 or a token past its expires_at goes back to sign-in. The token is refreshed ten
// minutes before it ends (a short-lived one when a third of it is left) and handed to the socket
// with reauth.
import { api, el, session, saveSession, clearSession } from './api.js';
import { Socket } from './ws.js';
import * as rooms from './rooms.js';
import * as search from './search.js';
import * as notifications from './notifications.js';
import * as orgs from './orgs.js';
import { fetchUser } from './users.js';

const app = document.getElementById('app');

// sections, in the order the navigation shows them; modules add themselves here.
const sections = [
  { name: 'rooms', label: 'Rooms', module: rooms },
  { name: 'search', label: 'Search', module: search },
  { name: 'notifications', label: 'Notifications', module: notifications },
  { name: 'orgs', label: 'Organizations', module: orgs },
];

let ctx = null;

function form(label, fields, submit, extra) {
  const error = el('p', { class: 'error', role: 'alert' });
  const f = el('form', { class: 'card', 'aria-label': label }, el('h1', {}, 'Chorus'), ...fields,
    el('button', { type: 'submit' }, label), error, extra || null);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      await submit();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return f;
}

function input(name, label, attrs = {}) {
  const i = el('input', { name, ...attrs });
  return [el('label', {}, label, i), i];
}

function signIn(message) {
  const [lu, username] = input('username', 'Username', { autocomplete: 'username', required: true });
  const [lp, password] = input('password', 'Password', { type: 'password', autocomplete: 'current-password', required: true });
  const toRegister = el('button', { type: 'button', class: 'secondary', onclick: () => register() }, 'Create an account');
  const f = form('Sign in', [lu, lp], async () => {
    saveSession(await api('POST', '/auth/login', { username: username.value, password: password.value }));
    home();
  }, toRegister);
  if (message) f.querySelector('.error').textContent = message;
  app.replaceChildren(f);
  username.focus();
}

function register() {
  const [lu, username] = input('username', 'Username', { autocomplete: 'username', required: true });
  const [ld, display] = input('display_name', 'Display name', { autocomplete: 'name' });
  const [lp, password] = input('password', 'Password', { type: 'password', autocomplete: 'new-password', required: true });
  const back = el('button', { type: 'button', class: 'secondary', onclick: () => signIn() }, 'I have an account');
  app.replaceChildren(form('Register', [lu, ld, lp], async () => {
    const body = { username: username.value, password: password.value };
    if (display.value) body.display_name = display.value;
    await api('POST', '/auth/register', body);
    saveSession(await api('POST', '/auth/login', { username: username.value, password: password.value }));
    home();
  }, back));
  username.focus();
}

function home() {
  const s = session();
  if (!s) return signIn();
  const main = el('section', { id: 'section', class: 'section' });
  const banners = el('div', { id: 'banners', role: 'status' });
  const nav = el('nav', { 'aria-label': 'Sections' });
  const state = el('span', { id: 'conn', class: 'conn' });
  let teardown = null;
  let current = null;

  const socket = new Socket(() => session()?.token);
  socket.onState = (st) => {
    state.textContent = st === 'open' ? '' : st === 'connecting' ? 'Connecting…' : 'Reconnecting…';
    state.dataset.state = st;
  };

  ctx = {
    user: s.user,
    actingFor: null,
    socket,
    api(method, path, body, opts = {}) {
      if (ctx.actingFor && !opts.onBehalfOf) opts = { ...opts, onBehalfOf: ctx.actingFor.id };
      return api(method, path, body, opts);
    },
    show(name, params = {}) {
      const sec = sections.find((x) => x.name === name);
      if (!sec) return;
      if (name === current && sec.module.navigate) return sec.module.navigate(params);
      teardown?.();
      current = name;
      for (const b of nav.querySelectorAll('button')) b.setAttribute('aria-current', b.dataset.section === name ? 'page' : 'false');
      main.replaceChildren();
      teardown = sec.module.mount(main, ctx, params) || null;
    },
    openRoom(roomId, seq) {
      ctx.show('rooms', { roomId, seq });
    },
    banner(text, kind = 'info') {
      const close = el('button', { class: 'secondary', 'aria-label': 'Dismiss' }, '×');
      const b = el('div', { class: 'banner ' + kind }, el('span', {}, text), close);
      close.addEventListener('click', () => b.remove());
      banners.append(b);
    },
    get section() { return current; },
  };

  for (const sec of sections) {
    nav.append(el('button', { class: 'secondary', 'data-section': sec.name, onclick: () => ctx.show(sec.name) }, sec.label));
  }
  const out = el('button', { class: 'secondary', id: 'signout' }, 'Sign out');
  out.addEventListener('click', async () => {
    try { await api('POST', '/auth/logout'); } catch { /* signed out anyway */ }
    signOut();
  });
  app.replaceChildren(
    el('header', { class: 'top' }, el('strong', {}, 'Chorus'), nav, state,
      el('span', { id: 'me', title: s.user.display_name || '' }, s.user.username), out),
    banners, main);
  socket.on('close', ({ code }) => {
    if (code === 4001) return signOut('Your session ended: sign in again.');
    // a socket refused at the upgrade (401) shows as a plain drop: ask the API, whose 401 signs out
    if (socket.attempt >= 2) api('GET', '/users/me').catch(() => {});
  });
  app.querySelector('header.top').insertBefore(actAs(), out);
  refreshLater(socket);
  socket.on('system_event', (f) => f.event?.event_type !== 'org_broadcast' && ctx.banner(f.event?.message || f.event?.event_type || 'system event', 'system'));
  // a section may also export start(ctx, navButton): run once per sign-in (badges, banners).
  for (const sec of sections) sec.module.start?.(ctx, nav.querySelector(`[data-section="${sec.name}"]`));
  socket.connect();
  ctx.show('rooms');
}

// actAs is the header's "Act as" selector, offered when the user holds proxy grants in force:
// it sets ctx.actingFor, and messages then go for that user (shown "sent by … for …").
function actAs() {
  const sel = el('select', { id: 'act-as', 'aria-label': 'Act as' }, el('option', { value: '' }, 'Acting as myself'));
  const wrap = el('label', { class: 'act-as', hidden: true }, 'Act as', sel);
  const me = ctx;
  // The grants held, read at sign-in and again after every reconnect (a read that failed while
  // the gateway was away, or a grant given meanwhile, is then put right).
  const load = () => api('GET', '/users/me/proxies').then(async (r) => {
    const now = Date.now();
    const ids = [...new Set(r.received.filter((g) => Date.parse(g.starts_at) <= now && Date.parse(g.ends_at) > now).map((g) => g.principal_id))];
    const opts = [el('option', { value: '' }, 'Acting as myself')];
    for (const id of ids) {
      const u = await fetchUser(me, id);
      opts.push(el('option', { value: id }, 'For ' + (u ? u.username : id)));
    }
    const keep = sel.value;
    sel.replaceChildren(...opts);
    sel.value = ids.includes(keep) ? keep : '';
    if (keep) sel.dispatchEvent(new Event('change')); // the name may be known now, or the grant ended
    wrap.hidden = ids.length === 0;
  }).catch(() => {});
  load();
  me.socket.on('open', ({ reconnected }) => { if (reconnected && ctx === me) load(); });
  sel.addEventListener('change', () => {
    const opt = sel.selectedOptions[0];
    me.actingFor = sel.value ? { id: sel.value, username: opt.textContent.replace(/^For /, '') } : null;
    document.body.classList.toggle('acting', !!me.actingFor);
    window.dispatchEvent(new CustomEvent('chorus:acting'));
  });
  return wrap;
}

// refreshLater refreshes the token ten minutes before it ends (a token that lives shorter, once a
// third of what is left remains) and moves the socket onto it.
function refreshLater(socket) {
  const s = session();
  if (!s) return;
  const mine = ctx;
  setTimeout(async () => {
    if (ctx !== mine) return;
    try {
      const r = await api('POST', '/auth/refresh');
      saveSession(r);
      await socket.send({ type: 'reauth', token: r.token }).catch(() => {});
      refreshLater(socket);
    } catch { /* a 401 signs out */ }
  }, refreshDelay(Date.parse(s.expires_at) - Date.now()));
}

// refreshDelay is the wait before refreshing a token that ends in left ms: never so short that a
// short-lived token (CHORUS_SESSION_TTL of minutes) is refreshed over and over.
function refreshDelay(left) {
  return Math.max(1000, left - Math.min(600000, left / 3));
}

function signOut(message) {
  ctx?.socket.close();
  ctx = null;
  clearSession();
  signIn(message);
}

api.onUnauthorized = () => signOut('Your session ended: sign in again.');
home();
