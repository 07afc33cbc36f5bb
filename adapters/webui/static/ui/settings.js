// Room settings for its owner and admins: rename and describe, members' roles, kick and ban,
// invite, unban, and (the owner) delete the room. Each is the public HTTP call of its command;
// the server decides who may (docs/protocol.md, Permissions), this only hides what cannot work.
import { el } from './api.js';
import { label } from './users.js';

function twoStep(text, confirm, action) {
  const b = el('button', { type: 'button', class: 'secondary small danger' }, text);
  b.addEventListener('click', () => {
    if (!b.classList.contains('confirm')) { b.classList.add('confirm'); b.textContent = confirm; return; }
    action();
  });
  b.addEventListener('blur', () => { b.classList.remove('confirm'); b.textContent = text; });
  return b;
}

// userByName finds a user by exact username (GET /users?q= matches substrings).
async function userByName(ctx, name) {
  const r = await ctx.api('GET', '/users?q=' + encodeURIComponent(name.trim()) + '&limit=200');
  const u = r.users.find((x) => x.username.toLowerCase() === name.trim().toLowerCase());
  if (!u) throw new Error(`no user named ${name}`);
  return u;
}

// settings(ctx, room, h) → {node, refresh()}: the panel, and what redraws its member rows; h: {members: Map id → Member, role, reload(position?), onDeleted(position?)}.
export function settings(ctx, room, h) {
  const status = el('p', { class: 'muted', role: 'status' });
  // after a command the members are read again as of its position: a read model that has not
  // applied the command yet would bring a kicked member back into the list
  const act = (p, done) => p.then((r) => { status.textContent = done; return h.reload(r?.position); }).catch((e) => { status.textContent = e.message; });
  const base = `/rooms/${room.id}`;

  const name = el('input', { name: 'name', required: true, maxlength: 100, dir: 'auto' });
  name.value = room.name;
  const desc = el('textarea', { name: 'description', rows: 2, maxlength: 1000, dir: 'auto' });
  desc.value = room.description || '';
  const edit = el('form', { class: 'stack', 'aria-label': 'Room details' }, el('label', {}, 'Name', name), el('label', {}, 'Description', desc),
    el('button', { type: 'submit', class: 'small' }, 'Save'));
  edit.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(ctx.api('PATCH', base, { name: name.value, description: desc.value }), 'Saved.');
  });

  const me = ctx.actingFor?.id || ctx.user.id;
  const rowsOf = () => [...h.members.values()].filter((x) => x.user.id !== me && x.role !== 'owner').map((x) => {
    const uid = x.user.id;
    const row = el('li', {}, el('span', { dir: 'auto' }, label(x.user), ' '), el('span', { class: 'muted' }, '@' + x.user.username));
    if (h.role === 'owner') {
      const sel = el('select', { 'aria-label': `Role of ${x.user.username}` }, el('option', { value: 'member' }, 'member'), el('option', { value: 'admin' }, 'admin'));
      sel.value = x.role;
      sel.addEventListener('change', () => act(ctx.api('PUT', `${base}/members/${uid}/role`, { role: sel.value }), 'Role changed.'));
      row.append(sel);
    }
    if (h.role === 'owner' || x.role === 'member') {
      row.append(el('button', { type: 'button', class: 'secondary small', onclick: () => act(ctx.api('DELETE', `${base}/members/${uid}`), 'Removed.') }, 'Kick'),
        twoStep('Ban', 'Ban for good?', () => act(ctx.api('PUT', `${base}/bans/${uid}`, {}), 'Banned.')));
    }
    return row;
  });
  // the member rows follow the room's members (joins, leaves, kicks, roles) while the panel is open
  const memberBox = el('div', {});
  const drawRows = () => {
    const rows = rowsOf();
    memberBox.replaceChildren(rows.length ? el('ul', { class: 'plain' }, rows) : el('p', { class: 'muted' }, 'Nobody else yet.'));
  };
  drawRows();

  const who = el('input', { name: 'username', autocomplete: 'off', required: true });
  const people = el('form', { class: 'stack', 'aria-label': 'Invite or unban' }, el('label', {}, 'Username', who),
    el('div', { class: 'row' }, el('button', { type: 'submit', class: 'small' }, 'Invite'),
      el('button', { type: 'button', class: 'secondary small', onclick: () => act(userByName(ctx, who.value).then((u) => ctx.api('PUT', `${base}/bans/${u.id}`, {})), 'Banned.') }, 'Ban'),
      el('button', { type: 'button', class: 'secondary small', onclick: () => act(userByName(ctx, who.value).then((u) => ctx.api('DELETE', `${base}/bans/${u.id}`)), 'Unbanned.') }, 'Unban')));
  people.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(userByName(ctx, who.value).then((u) => ctx.api('POST', `${base}/invitations`, { user_id: u.id })), `Invited ${who.value}.`);
  });

  const node = el('div', { class: 'settings' }, el('h3', {}, 'Room settings'), status, edit,
    el('h4', {}, 'Members'), memberBox,
    el('h4', {}, 'Invite, ban or unban someone'), people,
    h.role === 'owner' ? [el('h4', {}, 'Delete the room'),
      twoStep('Delete room', 'Delete for everyone, for good?', () => ctx.api('DELETE', base).then((r) => h.onDeleted(r?.position)).catch((e) => { status.textContent = e.message; }))] : null);
  return { node, refresh: drawRows };
}
