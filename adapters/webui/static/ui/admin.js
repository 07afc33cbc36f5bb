import { api, el, session } from './api.js';

const app = document.getElementById('app');

async function start() {
  if (!session()) {
    app.replaceChildren(el('p', {}, 'Sign in on ', el('a', { href: '/' }, 'the chat page'), ' first.'));
    return;
  }
  try {
    const status = await api('GET', '/admin/projections');
    app.replaceChildren(el('h1', {}, 'Projections'), el('pre', {}, JSON.stringify(status, null, 2)));
  } catch (e) {
    app.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.code === 'forbidden' ? 'Only the server\u2019s admins can use the console.' : e.message));
  }
}

start();
