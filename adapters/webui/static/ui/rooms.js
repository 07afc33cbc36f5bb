// The rooms section: the rooms the user is in, and the open room's conversation.
import { el } from './api.js';

export function mount(root, ctx) {
  const list = el('ul', { id: 'rooms', 'aria-label': 'Your rooms' });
  root.append(el('h2', {}, 'Rooms'), list);
  ctx.api('GET', '/rooms?mine=true').then((page) => {
    for (const r of page.rooms || []) list.append(el('li', {}, r.name));
  }).catch((e) => ctx.banner(e.message, 'error'));
}
