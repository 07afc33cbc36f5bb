// The search section: messages of the user's rooms containing a query (GET /search/messages),
// best first, the query's terms highlighted; a result opens its room at that message.
import { el } from './api.js';
import { highlight } from './highlight.js';
import { nameInto } from './users.js';

const PAGE = 20;
const MAX_OFFSET = 1000; // the protocol's largest offset

// the last search, shown again when the user comes back to the section
let last = { q: '', roomId: '' };

export function mount(root, ctx, params = {}) {
  const q = el('input', { type: 'search', name: 'q', required: true, maxlength: 200, autocomplete: 'off' });
  const room = el('select', { name: 'room_id' }, el('option', { value: '' }, 'All my rooms'));
  const form = el('form', { role: 'search', class: 'search-form', 'aria-label': 'Search messages' },
    el('label', {}, 'Search messages', q),
    el('label', {}, 'In', room),
    el('button', { type: 'submit' }, 'Search'));
  const status = el('p', { id: 'search-status', class: 'muted', 'aria-live': 'polite' });
  const list = el('ol', { id: 'search-results', class: 'results', 'aria-label': 'Search results' });
  const more = el('button', { type: 'button', class: 'secondary', hidden: true }, 'More results');
  root.append(el('h2', {}, 'Search'), form, status, list, more);

  const roomNames = new Map();
  const roomsLoaded = ctx.api('GET', '/rooms?mine=true').then((page) => {
    for (const r of page.rooms || []) {
      roomNames.set(r.id, r.name);
      room.append(el('option', { value: r.id }, r.name));
    }
  }).catch(() => { /* the filter just lists no rooms */ });

  let gen = 0;
  let offset = 0;
  let alive = true;

  async function load(append) {
    const my = ++gen;
    const query = new URLSearchParams({ q: last.q, limit: PAGE, offset });
    if (last.roomId) query.set('room_id', last.roomId);
    status.classList.remove('error');
    status.textContent = 'Searching…';
    more.hidden = true;
    try {
      const res = await ctx.api('GET', '/search/messages?' + query);
      await roomsLoaded;
      if (!alive || my !== gen) return;
      if (!append) list.replaceChildren();
      for (const m of res.results || []) list.append(result(ctx, m, last.q, roomNames));
      const n = list.children.length;
      status.textContent = n ? `${n} result${n === 1 ? '' : 's'} for “${last.q}”` : `Nothing found for “${last.q}”`;
      more.hidden = (res.results || []).length < PAGE || offset + PAGE > MAX_OFFSET;
    } catch (e) {
      if (!alive || my !== gen) return;
      status.classList.add('error');
      status.textContent = e.code === 'unavailable' ? 'Search is not available right now: try again shortly.' : e.message;
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    last = { q: q.value.trim(), roomId: room.value };
    if (!last.q) return;
    offset = 0;
    load(false);
  });
  more.addEventListener('click', () => {
    offset += PAGE;
    load(true);
  });

  if (params.q) last = { q: params.q, roomId: params.roomId || '' };
  q.value = last.q;
  roomsLoaded.then(() => { room.value = last.roomId; });
  if (last.q) load(false);
  q.focus();
  return () => { alive = false; };
}

// result is one found message: where and by whom, its text with the terms marked; activating
// it opens the room at the message.
function result(ctx, m, query, roomNames) {
  const open = el('button', { type: 'button', class: 'result', 'data-room-id': m.room_id, 'data-seq': m.seq },
    el('span', { class: 'meta' },
      el('span', { class: 'room' }, roomNames.get(m.room_id) || 'a room'), ' · ',
      nameInto(ctx, m.sender_id, el('span', { class: 'who' }, '…')), ' · ',
      el('time', { datetime: m.created_at }, new Date(m.created_at).toLocaleString())),
    el('span', { class: 'content' }, highlight(m.content, query)));
  open.addEventListener('click', () => ctx.openRoom(m.room_id, m.seq));
  return el('li', {}, open);
}
