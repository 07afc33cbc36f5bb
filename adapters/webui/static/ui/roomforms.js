// The forms of the rooms section's pane: create a room, browse public rooms (and invitations)
// and join, join a room by id and password.
import { el } from './api.js';

function field(label, input) {
  return el('label', {}, label, input);
}

function card(title, ...children) {
  return el('section', { class: 'pane-card', 'aria-label': title }, el('h2', {}, title), ...children);
}

function submitting(form, error, fn) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try { await fn(); } catch (e) { error.textContent = e.message; }
  });
}

// createForm: name, description, private with an optional password; done({room, position}).
export function createForm(ctx, done) {
  const name = el('input', { name: 'name', required: true, maxlength: 100, dir: 'auto' });
  const desc = el('textarea', { name: 'description', rows: 2, maxlength: 1000, dir: 'auto' });
  const priv = el('input', { type: 'checkbox', name: 'is_private' });
  const pass = el('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
  const passLabel = field('Password (optional: without one, by invitation only)', pass);
  passLabel.hidden = true;
  priv.addEventListener('change', () => { passLabel.hidden = !priv.checked; });
  const error = el('p', { class: 'error', role: 'alert' });
  const f = el('form', { class: 'stack', 'aria-label': 'Create a room' }, field('Name', name), field('Description', desc),
    el('label', { class: 'check' }, priv, 'Private'), passLabel, el('button', { type: 'submit' }, 'Create'), error);
  submitting(f, error, async () => {
    const body = { name: name.value, description: desc.value || undefined, is_private: priv.checked || undefined };
    if (priv.checked && pass.value) body.password = pass.value;
    const r = await ctx.api('POST', '/rooms', body);
    done(r);
  });
  setTimeout(() => name.focus());
  return card('New room', f);
}

// browseForm lists the rooms GET /rooms finds for q: join a public one, accept an invitation,
// or give a private room's password; open one's own. join(room, password?) joins; open(id) opens.
export function browseForm(ctx, mine, join, open) {
  const q = el('input', { type: 'search', name: 'q', 'aria-label': 'Room name contains' });
  const results = el('ul', { class: 'plain browse', 'aria-label': 'Rooms found' });
  const error = el('p', { class: 'error', role: 'alert' });
  const f = el('form', { class: 'row', role: 'search' }, q, el('button', { type: 'submit' }, 'Search'));
  async function search() {
    const r = await ctx.api('GET', '/rooms?limit=50&q=' + encodeURIComponent(q.value));
    results.replaceChildren(...r.rooms.map((room) => {
      const li = el('li', {}, el('strong', { dir: 'auto' }, room.name), ' ',
        el('span', { class: 'muted' }, `${room.member_count} member${room.member_count === 1 ? '' : 's'}${room.is_private ? ', private' : ''}`),
        room.description ? el('p', { class: 'muted', dir: 'auto' }, room.description) : null);
      if (mine(room.id)) li.append(el('button', { type: 'button', class: 'secondary small', onclick: () => open(room.id) }, 'Open'));
      else li.append(el('button', { type: 'button', class: 'small', onclick: () => join(room).catch((e) => { error.textContent = e.message; }) },
        room.is_private ? 'Accept invitation' : 'Join'));
      return li;
    }));
    if (!r.rooms.length) results.append(el('li', { class: 'muted' }, 'No rooms found.'));
  }
  submitting(f, error, search);
  search().catch((e) => { error.textContent = e.message; });
  setTimeout(() => q.focus());
  return card('Browse rooms', f, error, results);
}

// joinForm joins a room by its id, with the password of a private room.
export function joinForm(ctx, join) {
  const id = el('input', { name: 'room_id', required: true, autocomplete: 'off', pattern: '[0-9a-fA-F-]{36}' });
  const pass = el('input', { type: 'password', name: 'password', autocomplete: 'off' });
  const error = el('p', { class: 'error', role: 'alert' });
  const f = el('form', { class: 'stack', 'aria-label': 'Join by id' }, field('Room id', id), field('Password (private rooms)', pass),
    el('button', { type: 'submit' }, 'Join'), error);
  submitting(f, error, () => join({ id: id.value.trim() }, pass.value || undefined));
  setTimeout(() => id.focus());
  return card('Join a room by id', f);
}
