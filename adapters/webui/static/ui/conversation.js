// The open room: its history (the latest page, then earlier pages with before_seq as the user
// scrolls up), live frames applied by message id and seq (a frame that comes twice or late
// changes nothing), the unread divider and read markers, who is typing, the members with their
// presence, the composer with its pending messages, and resume after a reconnect.
import { api, el } from './api.js';
import { renderMessage } from './message.js';
import { composer } from './composer.js';
import { outbox } from './outbox.js';
import { fetchUser, known, remember, label } from './users.js';
import { settings } from './settings.js';

const PAGE = 50;
const PENDING = Number.MAX_SAFE_INTEGER;
const when = (t) => (t ? Date.parse(t) : 0);

// conversation fills pane with room; opts: {seq, lastRead, pushed (messages pushed before it
// opened), onRead(roomId), onLeft(position?), back()}:
// onLeft is told the position of the leave or the deletion, so that the room list is read as of it.
// It returns {close(), rename(room)}.
export function conversation(pane, ctx, room, opts) {
  const me = ctx.user.id;
  const msgs = new Map(); // id → Message
  const nodes = new Map(); // id (message or outbox key) → element
  const members = new Map(); // user id → Member
  const typers = new Map(); // user id → timer
  const box = outbox(ctx);
  const unsub = [];
  let oldest = Infinity;
  let newest = 0;
  let hasMore = true;
  let loading = false;
  let marked = opts.lastRead ?? 0;
  let stick = true; // the user is at the bottom: new messages scroll into view and are read
  let closed = false;

  const list = el('ol', { class: 'messages', 'aria-label': 'Messages', role: 'log', 'aria-live': 'polite' });
  const older = el('button', { type: 'button', class: 'secondary small older', onclick: () => loadOlder() }, 'Load earlier messages');
  const scroller = el('div', { class: 'scroller' }, older, list);
  const typing = el('p', { class: 'typing', 'aria-live': 'polite' });
  const title = el('h2', { dir: 'auto', class: 'room-name' }, room.name);
  const desc = el('p', { dir: 'auto', class: 'muted room-desc' }, room.description || '');
  const memberList = el('ul', { class: 'members', 'aria-label': 'Members' });
  const side = el('aside', { class: 'side-panel', hidden: true });
  const tools = el('div', { class: 'tools' });
  const actor = () => ctx.actingFor?.id || me;
  const role = () => members.get(actor())?.role;
  const helpers = {
    me: actor(),
    members: new Map(),
    canDelete: (m) => m.sender_id === actor() || ['owner', 'admin'].includes(role()),
    quote: (id) => msgs.get(id),
    onReply: (m) => comp.replyTo(m),
    onEdit: (m, content) => ctx.api('PATCH', `/rooms/${room.id}/messages/${m.id}`, { content }).then((r) => upsert(r.message)),
    onDelete: (m) => ctx.api('DELETE', `/rooms/${room.id}/messages/${m.id}`).then(() => upsert({ ...m, deleted: true, content: '' })),
  };
  const comp = composer(ctx, room, { members: () => [...members.values()].map((x) => x.user), send: (b) => box.add(room.id, b), actingFor: () => ctx.actingFor });
  pane.replaceChildren(el('section', { class: 'conversation', 'aria-label': 'Conversation' },
    el('header', { class: 'conv-head' },
      el('button', { type: 'button', class: 'secondary small back', onclick: () => opts.back() }, '← Rooms'),
      el('div', { class: 'titles' }, title, desc, el('p', { class: 'muted small' }, 'Room id: ', el('code', {}, room.id))), tools),
    el('div', { class: 'conv-body' }, el('div', { class: 'conv-main' }, scroller, typing, comp.form), side)));

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  }
  function scrollDown() {
    scroller.scrollTop = scroller.scrollHeight;
  }
  function place(node, seq) {
    node.dataset.seq = seq;
    for (const c of list.children) {
      if (Number(c.dataset.seq) > seq) return list.insertBefore(node, c);
    }
    return list.append(node);
  }
  function draw(m) {
    helpers.me = actor();
    const node = renderMessage(ctx, m, helpers);
    const prev = nodes.get(m.id);
    if (prev) prev.replaceWith(node);
    else place(node, m.seq);
    nodes.set(m.id, node);
  }

  // upsert applies a message by id: a stale copy (older edit, or not deleted when it is) is ignored.
  function upsert(m, quiet) {
    if (closed || m.room_id !== room.id) return;
    const old = msgs.get(m.id);
    if (old && (old.deleted || (when(old.edited_at) > when(m.edited_at)))) return;
    msgs.set(m.id, m);
    draw(m);
    newest = Math.max(newest, m.seq);
    oldest = Math.min(oldest, m.seq);
    if (!quiet && stick) scrollDown();
    if (!quiet) markSoon();
  }

  async function loadOlder(limit = PAGE) {
    if (loading || !hasMore || !Number.isFinite(oldest)) return;
    loading = true;
    const h0 = scroller.scrollHeight;
    const t0 = scroller.scrollTop;
    try {
      const page = await ctx.api('GET', `/rooms/${room.id}/messages?before_seq=${oldest}&limit=${limit}`);
      hasMore = page.has_more;
      for (const m of page.messages) upsert(m, true);
      scroller.scrollTop = t0 + scroller.scrollHeight - h0;
    } catch (e) {
      ctx.banner(e.message, 'error');
    } finally {
      loading = false;
      older.hidden = !hasMore;
    }
  }

  // catchUp reads what came after seq from history (resume could not recover the room).
  async function catchUp(seq) {
    for (let more = true, after = seq; more && !closed;) {
      const page = await ctx.api('GET', `/rooms/${room.id}/messages?after_seq=${after}&limit=200`);
      for (const m of page.messages) upsert(m);
      more = page.has_more && page.messages.length > 0;
      if (more) after = page.messages[page.messages.length - 1].seq;
    }
  }

  // markRead moves the read marker to the newest message while the user is at the bottom of a
  // visible page: at most one request at a time, the next one once it is answered.
  let marking = false;
  function markSoon() {
    if (closed || marking || document.visibilityState !== 'visible' || !stick || newest <= marked) return;
    const seq = newest;
    marking = true;
    api('POST', `/rooms/${room.id}/read`, { seq }).then(() => {
      marked = Math.max(marked, seq);
      opts.onRead(room.id, seq);
    }).catch(() => {}).finally(() => {
      marking = false;
      if (newest > marked) setTimeout(markSoon, 500);
    });
  }

  function drawPending(item) {
    const retry = el('button', { type: 'button', class: 'secondary small', onclick: () => { item.state = 'pending'; drawPending(item); box.pump(); } }, 'Retry');
    const drop = el('button', { type: 'button', class: 'secondary small', onclick: () => box.discard(item) }, 'Discard');
    const node = el('li', { class: 'msg pending', 'data-key': item.key },
      el('div', { class: 'meta' }, el('strong', {}, item.actingFor ? item.actingFor.username : label(ctx.user)),
        el('span', { class: 'status' }, item.state === 'failed' ? 'Not sent: ' + item.error : 'Sending…')),
      el('p', { class: 'text', dir: 'auto' }, item.body.content),
      item.state === 'failed' ? el('div', { class: 'actions' }, retry, drop) : null);
    const prev = nodes.get(item.key);
    if (prev) prev.replaceWith(node);
    else place(node, PENDING);
    nodes.set(item.key, node);
    stick = true;
    scrollDown();
  }
  unsub.push(box.on((kind, item, message) => {
    if (item.roomId !== room.id) return;
    if (kind === 'acked') {
      nodes.get(item.key)?.remove();
      nodes.delete(item.key);
      if (message) upsert(message);
    } else drawPending(item);
  }));

  function drawMembers() {
    helpers.members = new Map([...members.values()].map((x) => [x.user.username.toLowerCase(), x.user]));
    memberList.replaceChildren(...[...members.values()].map((x) => el('li', { 'data-uid': x.user.id },
      el('span', { class: 'dot ' + x.user.status, role: 'img', 'aria-label': x.user.status }),
      el('span', { dir: 'auto' }, label(x.user)), ' ', el('span', { class: 'muted' }, '@' + x.user.username),
      x.role !== 'member' ? el('span', { class: 'role' }, x.role) : null)));
    drawTools();
  }
  async function loadMembers(position) {
    const r = await ctx.api('GET', `/rooms/${room.id}/members` + (position ? '?position=' + encodeURIComponent(position) : ''));
    members.clear();
    for (const x of r.members) { members.set(x.user.id, x); remember(x.user); }
    drawMembers();
  }

  // the side panel (members or settings): its button toggles it, Escape closes it
  let panel = null; // the open settings panel: {node, refresh()}
  const shown = (name) => !side.hidden && side.dataset.panel === name;
  function toggle(button, build) {
    const open = !shown(button.dataset.panel);
    side.hidden = !open;
    side.dataset.panel = button.dataset.panel;
    panel = null;
    if (open) side.replaceChildren(...build());
    for (const b of tools.querySelectorAll('[aria-expanded]')) b.setAttribute('aria-expanded', String(shown(b.dataset.panel)));
  }
  const escape = (ev) => {
    if (ev.key !== 'Escape' || side.hidden) return;
    const name = side.dataset.panel;
    side.hidden = true;
    panel = null;
    tools.querySelector(`[data-panel="${name}"]`)?.focus();
    for (const b of tools.querySelectorAll('[aria-expanded]')) b.setAttribute('aria-expanded', 'false');
  };
  side.addEventListener('keydown', escape);
  tools.addEventListener('keydown', escape);
  function drawTools() {
    const r = role();
    // drawn anew: a focused button keeps the focus in its successor
    const focusedPanel = tools.contains(document.activeElement) ? document.activeElement.dataset.panel : null;
    const mem = el('button', { type: 'button', class: 'secondary small', 'data-panel': 'members', 'aria-expanded': String(shown('members')) }, `Members (${members.size})`);
    mem.addEventListener('click', () => toggle(mem, () => [el('h3', {}, 'Members'), memberList]));
    tools.replaceChildren(mem);
    if (r === 'owner' || r === 'admin') {
      const set = el('button', { type: 'button', class: 'secondary small', 'data-panel': 'settings', 'aria-expanded': String(shown('settings')) }, 'Settings');
      set.addEventListener('click', () => toggle(set, () => {
        panel = settings(ctx, room, { members, role: r, reload: loadMembers, onDeleted: opts.onLeft });
        return [panel.node];
      }));
      tools.append(set);
      panel?.refresh();
    } else if (shown('settings')) { // no longer allowed: the panel goes
      side.hidden = true;
      panel = null;
    }
    if (r && r !== 'owner') {
      const leave = el('button', { type: 'button', class: 'secondary small' }, 'Leave');
      leave.addEventListener('click', () => {
        if (!leave.classList.contains('confirm')) { leave.classList.add('confirm'); leave.textContent = 'Leave this room?'; return; }
        ctx.api('POST', `/rooms/${room.id}/leave`).then((r) => opts.onLeft(r?.position)).catch((e) => ctx.banner(e.message, 'error'));
      });
      tools.append(leave);
    }
    if (focusedPanel) tools.querySelector(`[data-panel="${focusedPanel}"]`)?.focus();
  }

  function showTyping() {
    const names = [...typers.keys()].map((id) => members.get(id)?.user || known(id) || '…').map((u) => (u === '…' ? u : label(u)));
    typing.textContent = names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
  }

  const on = (type, fn) => unsub.push(ctx.socket.on(type, fn));
  on('message', (f) => {
    if (f.message.room_id !== room.id) return;
    clearTimeout(typers.get(f.message.sender_id));
    if (typers.delete(f.message.sender_id)) showTyping();
    upsert(f.message);
  });
  on('message_updated', (f) => upsert(f.message));
  on('message_deleted', (f) => {
    const m = msgs.get(f.message_id);
    if (f.room_id === room.id && m) upsert({ ...m, deleted: true, content: '' });
  });
  on('typing', (f) => {
    if (f.room_id !== room.id || f.user_id === me) return;
    clearTimeout(typers.get(f.user_id));
    typers.set(f.user_id, setTimeout(() => { typers.delete(f.user_id); showTyping(); }, 3500));
    showTyping();
    if (!members.has(f.user_id) && !known(f.user_id)) fetchUser(ctx, f.user_id).then(showTyping);
  });
  on('presence', (f) => {
    const x = members.get(f.user_id);
    if (x) { x.user.status = f.status; drawMembers(); }
  });
  on('member_updated', (f) => {
    const x = members.get(f.user_id);
    if (f.room_id === room.id && x) { x.role = f.role; drawMembers(); }
  });
  // joins and leaves are applied from their frames: the read model may not show them yet
  on('user_joined', (f) => {
    if (f.room_id !== room.id || members.has(f.user_id)) return;
    const x = { user: known(f.user_id) || { id: f.user_id, username: f.username, status: 'online' }, role: 'member' };
    members.set(f.user_id, x);
    drawMembers();
    fetchUser(ctx, f.user_id).then((u) => { if (u && members.get(f.user_id) === x) { x.user = { ...u, status: x.user.status }; drawMembers(); } });
  });
  on('user_left', (f) => {
    if (f.room_id === room.id && members.delete(f.user_id)) drawMembers();
  });
  on('open', async ({ reconnected }) => {
    if (!reconnected || closed) return;
    const seen = newest; // what came live from now on may run ahead of what was missed
    loadMembers().catch(() => {});
    try {
      const r = await ctx.socket.send({ type: 'resume', rooms: { [room.id]: seen } });
      if (!r.rooms?.[room.id]?.recovered) await catchUp(seen);
    } catch {
      await catchUp(seen).catch((e) => ctx.banner(e.message, 'error'));
    }
  });
  scroller.addEventListener('scroll', () => {
    stick = nearBottom();
    if (scroller.scrollTop < 80) loadOlder();
    markSoon();
  });
  const vis = () => markSoon();
  document.addEventListener('visibilitychange', vis);

  async function load() {
    // The focus moves to the room once it is loaded, unless the user moved it meanwhile (to the
    // members panel's button, say: on a slow line its Escape then went to the composer).
    const focusedAtOpen = document.activeElement;
    await loadMembers();
    const page = await ctx.api('GET', `/rooms/${room.id}/messages?limit=${PAGE}`);
    hasMore = page.has_more;
    for (const m of page.messages) upsert(m, true);
    // what was pushed before the room opened, which the read model may not have had yet; only
    // from the page's oldest on (or all if the page is whole), so that earlier pages still load
    const from = hasMore ? oldest : 0;
    for (const m of opts.pushed || []) if (m.seq >= from) upsert(m, true);
    const first = page.messages.find((m) => m.seq > marked && m.sender_id !== me);
    if (opts.lastRead !== undefined && first) place(el('li', { class: 'divider', role: 'separator' }, 'New messages'), marked + 0.5);
    for (let n = 0; opts.seq && oldest > opts.seq && hasMore && n < 20; n++) await loadOlder(200);
    older.hidden = !hasMore;
    for (const item of box.of(room.id)) drawPending(item);
    const target = opts.seq && [...msgs.values()].find((m) => m.seq === opts.seq);
    const untouched = document.activeElement === focusedAtOpen || !document.activeElement || document.activeElement === document.body;
    if (target) {
      const n = nodes.get(target.id);
      n.classList.add('highlight');
      n.scrollIntoView({ block: 'center' });
      if (untouched) n.focus();
    } else {
      scrollDown();
      if (untouched) comp.focus();
    }
    markSoon();
  }
  load().catch((e) => ctx.banner(e.message, 'error'));

  return {
    close() {
      closed = true;
      for (const u of unsub) u();
      for (const t of typers.values()) clearTimeout(t);
      document.removeEventListener('visibilitychange', vis);
    },
    rename(r) {
      Object.assign(room, r);
      title.textContent = room.name;
      desc.textContent = room.description || '';
    },
    actingChanged() {
      comp.refreshActing();
      drawTools();
      for (const m of msgs.values()) draw(m);
    },
  };
}
