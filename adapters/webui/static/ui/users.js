// Users by id, fetched once and kept for the tab. nameEl makes a span that shows a user's display
// name (as text) and fills in when the user is fetched.
import { el } from './api.js';

const cache = new Map(); // id → User, or a Promise while it is fetched

export function remember(u) {
  if (u?.id) cache.set(u.id, u);
}

export function known(id) {
  const u = cache.get(id);
  return u && !(u instanceof Promise) ? u : null;
}

export function label(u) {
  return u.display_name || u.username;
}

export function fetchUser(ctx, id) {
  if (!cache.has(id)) {
    cache.set(id, ctx.api('GET', '/users/' + encodeURIComponent(id)).then((u) => {
      cache.set(id, u);
      for (const e of document.querySelectorAll('.uname')) {
        if (e.dataset.uid === id) { e.textContent = label(u); e.title = '@' + u.username; }
      }
      return u;
    }).catch(() => { cache.delete(id); return null; }));
  }
  const v = cache.get(id);
  return v instanceof Promise ? v : Promise.resolve(v);
}

export function nameEl(ctx, id) {
  const u = known(id);
  const s = el('span', { class: 'uname', 'data-uid': id, title: u ? '@' + u.username : null }, u ? label(u) : '…');
  if (!u) fetchUser(ctx, id);
  return s;
}

// userName is the name to show for a user (display name, else username), "someone" for a user
// that cannot be read.
export function userName(ctx, id) {
  if (!id) return Promise.resolve('someone');
  return fetchUser(ctx, id).then((u) => (u ? label(u) : 'someone'));
}

// nameInto fills node with the user's name once it is known.
export function nameInto(ctx, id, node) {
  userName(ctx, id).then((n) => { node.textContent = n; });
  return node;
}
