// The notifications section: the user's notifications newest first (GET /notifications), each
// marked read on its own or all at once, new ones arriving live (`notification` frames); and
// the unread badge on the navigation, kept from sign-in on (start).
import { el } from './api.js';

const PAGE = 50;
const LABELS = {
  mention: 'Mention', room_invitation: 'Invitation', user_joined_room: 'Joined', user_left_room: 'Left',
  system_alert: 'Alert', org_broadcast: 'Broadcast',
};

// state of the signed-in user's notifications: the unread ids the badge counts (a set, as a
// push may come twice), whether there are more than the first page told, and open panels.
let state = null;

export function start(ctx, navButton) {
  const badge = el('span', { id: 'notif-badge', class: 'badge', 'aria-hidden': 'true', hidden: true });
  navButton?.append(badge);
  const s = { ctx, unread: new Set(), more: false, read: new Set(), fetching: new Set(), views: new Set() };
  s.render = () => {
    const n = s.unread.size;
    badge.hidden = n === 0;
    badge.textContent = n + (s.more ? '+' : '');
    navButton?.setAttribute('aria-label', n ? `Notifications, ${badge.textContent} unread` : 'Notifications');
    document.title = n ? `(${badge.textContent}) Chorus` : 'Chorus';
  };
  state = s;

  // refresh counts the unread ones anew (at sign-in and after every reconnect, as pushes may
  // have been missed), keeping what was pushed or marked read while it asked.
  const refresh = async () => {
    const pushed = new Set();
    s.fetching.add(pushed);
    try {
      const page = await ctx.api('GET', `/notifications?unread=true&limit=200`);
      if (state !== s) return;
      s.unread = new Set([...(page.notifications || []).map((n) => n.id), ...pushed].filter((id) => !s.read.has(id)));
      s.more = page.has_more;
      s.render();
    } catch { /* the badge keeps its count */ } finally {
      s.fetching.delete(pushed);
    }
  };
  ctx.socket.on('open', refresh);
  ctx.socket.on('notification', (f) => {
    const n = f.notification;
    if (!n?.id || state !== s) return;
    if (!n.read && !s.read.has(n.id)) {
      s.unread.add(n.id);
      for (const p of s.fetching) p.add(n.id);
    }
    s.render();
    for (const v of s.views) v(n);
  });
  refresh();
}

async function markRead(ctx, id) {
  const res = await ctx.api('POST', '/notifications/' + encodeURIComponent(id) + '/read');
  if (state) {
    state.read.add(id);
    state.unread.delete(id);
    state.render();
  }
  return res.notification;
}

export function mount(root, ctx) {
  const unreadOnly = el('input', { type: 'checkbox', name: 'unread' });
  const allRead = el('button', { type: 'button', class: 'secondary' }, 'Mark all read');
  const list = el('ul', { id: 'notifications', class: 'notifications', 'aria-live': 'polite', 'aria-label': 'Notifications' });
  const status = el('p', { class: 'muted', role: 'status' });
  const older = el('button', { type: 'button', class: 'secondary', hidden: true }, 'Older');
  root.append(el('h2', {}, 'Notifications'),
    el('div', { class: 'toolbar' }, el('label', { class: 'inline' }, unreadOnly, 'Unread only'), allRead),
    status, list, older);
  const items = new Map(); // id → li

  function item(n) {
    const li = el('li', { class: 'notification' + (n.read ? '' : ' unread'), 'data-id': n.id, 'data-type': n.notification_type });
    const actions = el('span', { class: 'actions' });
    if (n.room_id) {
      actions.append(el('button', { type: 'button', class: 'secondary', onclick: async () => {
        if (!n.read) await markRead(ctx, n.id).catch(() => null);
        ctx.openRoom(n.room_id);
      } }, 'Open room'));
    }
    if (!n.read) {
      actions.append(el('button', { type: 'button', class: 'secondary mark', onclick: async () => {
        try {
          show(await markRead(ctx, n.id));
        } catch (e) {
          ctx.banner(e.message, 'error');
        }
      } }, 'Mark read'));
    }
    li.append(el('span', { class: 'kind' }, LABELS[n.notification_type] || n.notification_type),
      el('span', { class: 'text' }, n.message),
      el('time', { datetime: n.created_at }, new Date(n.created_at).toLocaleString()), actions);
    return li;
  }

  // show puts n in the list: in place if it is there, else where its time belongs.
  function show(n, atEnd) {
    const old = items.get(n.id);
    const li = item(n);
    items.set(n.id, li);
    if (old) old.replaceWith(li);
    else if (atEnd) list.append(li);
    else list.prepend(li);
    status.textContent = '';
  }

  let before = '';
  let gen = 0;
  async function load(reset) {
    const my = ++gen;
    if (reset) {
      before = '';
      items.clear();
      list.replaceChildren();
    }
    const q = new URLSearchParams({ limit: PAGE });
    if (unreadOnly.checked) q.set('unread', 'true');
    if (before) q.set('before', before);
    try {
      const page = await ctx.api('GET', '/notifications?' + q);
      if (my !== gen) return;
      for (const n of page.notifications || []) if (!items.has(n.id)) show(n, true);
      const ns = page.notifications || [];
      if (ns.length) before = ns[ns.length - 1].id;
      older.hidden = !page.has_more;
      if (!items.size) status.textContent = unreadOnly.checked ? 'Nothing unread.' : 'No notifications yet.';
    } catch (e) {
      status.textContent = e.code === 'unavailable' ? 'Notifications are not available right now.' : e.message;
    }
  }

  const live = (n) => show(n);
  state?.views.add(live);
  unreadOnly.addEventListener('change', () => load(true));
  older.addEventListener('click', () => load(false));
  allRead.addEventListener('click', async () => {
    // the shown ones and those the badge counts (they may be further down the list)
    const ids = new Set([...list.querySelectorAll('li.unread')].map((li) => li.dataset.id));
    for (const id of state?.unread || []) ids.add(id);
    for (const id of ids) {
      try {
        const n = await markRead(ctx, id);
        if (items.has(id)) show(n);
      } catch (e) {
        ctx.banner(e.message, 'error');
        return;
      }
    }
    if (unreadOnly.checked) load(true);
  });
  load(true);
  return () => state?.views.delete(live);
}
