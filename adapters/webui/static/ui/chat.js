import { api, el, session, saveSession, clearSession } from './api.js';

const app = document.getElementById('app');

function signIn(message) {
  const error = el('p', { class: 'error', role: 'alert' }, message || '');
  const username = el('input', { name: 'username', autocomplete: 'username', required: true });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = el('form', { class: 'card', 'aria-label': 'Sign in' },
    el('h1', {}, 'Chorus'),
    el('label', {}, 'Username', username),
    el('label', {}, 'Password', password),
    el('button', { type: 'submit' }, 'Sign in'),
    error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      saveSession(await api('POST', '/auth/login', { username: username.value, password: password.value }));
      home();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  app.replaceChildren(form);
}

function home() {
  const s = session();
  if (!s) return signIn();
  const out = el('button', { class: 'secondary' }, 'Sign out');
  out.addEventListener('click', async () => {
    try { await api('POST', '/auth/logout'); } catch { /* signed out anyway */ }
    clearSession();
    signIn();
  });
  app.replaceChildren(el('header', {}, el('span', { id: 'me' }, s.user.username), ' ', out));
}

api.onUnauthorized = () => signIn('Your session ended: sign in again.');
home();
