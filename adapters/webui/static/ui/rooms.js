// The rooms section: the user's rooms with their unread counts, invitations, and a pane that
// shows the open room's conversation (conversation.js) or a form (roomforms.js). Unread counts
// come from GET /rooms?mine=true and move with live messages, the user's read markers (theirs
// and their other devices') and a reload after every reconnect.
import { el } from './api.js';
import { conversation } from './conversation.js';
import { createForm, browseForm, joinForm } from './roomforms.js';

let active = null; // the mounted section's navigate, for ctx.openRoom

export function navigate(params) {
  active?.(params);
}

export function mount(root, ctx, params = {}) {
  const me = ctx.user.id;
  let rooms = new Map(); // id → Room, the user's own
  const invites = new Map(); // id → Room, private rooms the user is invited to
  const counted = new Set(); // message ids counted as unread
  // the latest messages pushed per room (id → Message, at most KEEP): a room opened right after a
  // push reads its history from the read model, which may not have the message yet, so the
  // conversation applies these over the page it read (by id and seq, as any frame)
  const pushed = new Map();
  const KEEP = 50;
  const keep = (m) => {
    let b = pushed.get(m.room_id);
    if (!b) pushed.set(m.room_id, (b = new Map()));
    const old = b.get(m.id);
    if (old && (old.deleted || Date.parse(old.edited_at || 0) > Date.parse(m.edited_at || 0))) return;
    b.delete(m.id);
    b.set(m.id, m);
    if (b.size > KEEP) b.delete(b.keys().next().value);
  };
  let current = null; // {id, conv}
  const unsub = [];
  let stopped = false; // the section was left

  const list = el('ul', { id: 'rooms', class: 'room-list', 'aria-label': 'Your rooms' });
  const invList = el('ul', { id: 'invitations', class: 'room-list', 'aria-label': 'Invitations' });
  const invBox = el('section', { class: 'invites', hidden: true }, el('h3', {}, 'Invitations'), invList);
  const pane = el('div', { class: 'pane', id: 'pane' });
  const btn = (id, text, fn) => el('button', { type: 'button', id, class: 'secondary small', onclick: fn }, text);
  const layout = el('div', { class: 'rooms-layout' },
    el('aside', { class: 'sidebar', 'aria-label': 'Room list' }, el('h2', {}, 'Rooms'),
      el('div', { class: 'row wrap' }, btn('new-room', 'New room', () => showForm(createForm(ctx, joined))),
        btn('browse-rooms', 'Browse', () => showForm(browseForm(ctx, (id) => rooms.has(id), join, (id) => openRoom(id)))),
        btn('join-by-id', 'Join by id', () => showForm(joinForm(ctx, join)))),
      list, invBox),
    pane);
  root.append(layout);

  function placeholder() {
    pane.replaceChildren(el('p', { class: 'muted empty' }, rooms.size ? 'Pick a room.' : 'You are in no room yet: create one, or browse and join one.'));
  }

  function drawList() {
    const sorted = [...rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
    list.replaceChildren(...sorted.map((r) => {
      const n = r.unread_count || 0;
      return el('li', {}, el('button', { type: 'button', class: 'room', 'data-room-id': r.id, 'aria-current': current?.id === r.id ? 'true' : 'false',
        onclick: () => openRoom(r.id) },
      el('span', { class: 'name', dir: 'auto' }, r.name), r.is_private ? el('span', { class: 'lock', 'aria-label': 'private' }, '🔒') : null,
      n > 0 ? el('span', { class: 'badge', 'aria-label': `${n} unread` }, String(n)) : null));
    }));
    invBox.hidden = invites.size === 0;
    invList.replaceChildren(...[...invites.values()].map((r) => el('li', { 'data-room-id': r.id },
      el('span', { class: 'name', dir: 'auto' }, r.name), ' ',
      el('button', { type: 'button', class: 'small', onclick: () => join(r).catch((e) => ctx.banner(e.message, 'error')) }, 'Accept'))));
  }

  // left: the rooms a frame said this user left or lost (deleted, kicked) since the page opened.
  // A list read that the read model answered before that change would bring them back; it is
  // kept out of the list until the user joins it again.
  const left = new Set();

  async function reload(position) {
    const got = new Map();
    let cursor = null;
    do {
      const q = new URLSearchParams({ mine: 'true' });
      if (cursor) q.set('cursor', cursor);
      if (position && !cursor) q.set('position', position);
      const page = await ctx.api('GET', '/rooms?' + q);
      for (const r of page.rooms) if (!left.has(r.id)) got.set(r.id, r);
      cursor = page.next_cursor;
    } while (cursor);
    rooms = got;
    drawList();
    loadInvites().catch(() => {});
  }

  // invitations: the private rooms GET /rooms shows the user without being a member of them.
  async function loadInvites() {
    invites.clear();
    let cursor = null;
    for (let n = 0; n < 10; n++) {
      const page = await ctx.api('GET', '/rooms' + (cursor ? '?cursor=' + encodeURIComponent(cursor) : ''));
      for (const r of page.rooms) if (r.is_private && r.unread_count === undefined && !rooms.has(r.id)) invites.set(r.id, r);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    drawList();
  }

  function closeRoom() {
    current?.conv.close();
    current = null;
    layout.classList.remove('has-room');
    drawList();
    placeholder();
  }

  function showForm(form) {
    closeRoom();
    layout.classList.add('has-room');
    pane.replaceChildren(el('button', { type: 'button', class: 'secondary small back', onclick: closeRoom }, '← Rooms'), form);
  }

  async function openRoom(id, seq) {
    if (!rooms.has(id)) await reload();
    const room = rooms.get(id);
    if (!room) return ctx.banner('You are not a member of that room.', 'error');
    current?.conv.close();
    current = { id };
    layout.classList.add('has-room');
    current.conv = conversation(pane, ctx, { ...room }, {
      seq,
      lastRead: room.last_read_seq,
      pushed: [...(pushed.get(id)?.values() || [])],
      onRead: (rid, s) => { const r = rooms.get(rid); if (r) { r.unread_count = 0; r.last_read_seq = s; drawList(); } },
      // read the list as of the leave or deletion: read before it, it would bring the room back
      onLeft: (position) => { closeRoom(); reload(position).catch(() => {}); },
      back: closeRoom,
    });
    drawList();
  }

  async function joined(r) {
    await reload(r.position);
    await openRoom(r.room.id);
  }

  async function join(room, password) {
    left.delete(room.id);
    const r = await ctx.api('POST', `/rooms/${encodeURIComponent(room.id)}/join`, password ? { password } : undefined);
    await reload(r.position);
    await openRoom(room.id);
  }

  const on = (type, fn) => unsub.push(ctx.socket.on(type, fn));
  on('message', (f) => {
    const m = f.message;
    keep(m);
    const r = rooms.get(m.room_id);
    if (!r || current?.id === m.room_id || m.sender_id === me || m.sent_by === me || counted.has(m.id) || m.seq <= (r.last_read_seq || 0)) return;
    counted.add(m.id);
    r.unread_count = (r.unread_count || 0) + 1;
    drawList();
  });
  // a read marker moved (another device read the room, or this tab did and its request is not
  // answered yet): the list is read again until it shows the marker, as the read model may not
  // have it yet and a list read before it would bring the old unread count back (for ~10 s)
  const marked = (id, seq, n = 0) => {
    const r = rooms.get(id);
    if (stopped || !r || (r.last_read_seq || 0) >= seq || n > 12) return;
    reload().then(() => {
      const x = rooms.get(id);
      if (x && (x.last_read_seq || 0) < seq) setTimeout(() => marked(id, seq, n + 1), 200 * (n + 1));
    }).catch(() => {});
  };
  on('read_marker', (f) => marked(f.room_id, f.seq));
  on('message_updated', (f) => keep(f.message));
  on('message_deleted', (f) => {
    const m = pushed.get(f.room_id)?.get(f.message_id);
    if (m) keep({ ...m, deleted: true, content: '' });
  });
  // joined elsewhere (another device, a room created there): the frame may come before the read
  // model has the membership, so the list is read again until it shows the room (for ~10 s)
  const arrive = (id, n = 0) => {
    if (stopped || rooms.has(id) || n > 12) return;
    reload().then(() => { if (!rooms.has(id)) setTimeout(() => arrive(id, n + 1), 200 * (n + 1)); }).catch(() => {});
  };
  on('user_joined', (f) => { if (f.user_id === me) { left.delete(f.room_id); arrive(f.room_id); } });
  const gone = (id, why) => {
    const r = rooms.get(id);
    rooms.delete(id);
    left.add(id);
    if (current?.id === id) { closeRoom(); if (r) ctx.banner(`${why}: ${r.name}`, 'info'); }
    drawList();
  };
  on('user_left', (f) => { if (f.user_id === me) gone(f.room_id, 'You are no longer in the room'); });
  on('room_deleted', (f) => gone(f.room_id, 'The room was deleted'));
  on('room_updated', (f) => {
    const r = rooms.get(f.room.id);
    if (!r) return;
    Object.assign(r, { name: f.room.name, description: f.room.description, member_count: f.room.member_count });
    if (current?.id === r.id) current.conv.rename(f.room);
    drawList();
  });
  on('notification', (f) => { if (f.notification?.notification_type === 'room_invitation') loadInvites().catch(() => {}); });
  on('open', ({ reconnected }) => { if (reconnected) reload().catch(() => {}); });
  const acting = () => current?.conv.actingChanged();
  window.addEventListener('chorus:acting', acting);

  active = (p) => { if (p.roomId) openRoom(p.roomId, p.seq).catch((e) => ctx.banner(e.message, 'error')); };
  placeholder();
  reload().then(() => params.roomId && openRoom(params.roomId, params.seq)).catch((e) => ctx.banner(e.message, 'error'));
  return () => {
    stopped = true;
    active = null;
    current?.conv.close();
    for (const u of unsub) u();
    window.removeEventListener('chorus:acting', acting);
  };
}
