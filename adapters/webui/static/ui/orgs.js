// The organizations section: the user's organizations (GET /users/me, its organizations),
// and for the one chosen its chart, directory, department rooms and broadcasts; and from
// sign-in on, an organization's broadcast as a banner naming the organization (start).
import { el } from './api.js';
import { chart, flatten } from './orgchart.js';
import { directory } from './orgdir.js';
import { nameInto } from './users.js';

const TABS = [['chart', 'Org chart'], ['directory', 'Directory'], ['rooms', 'Department rooms'], ['broadcasts', 'Broadcasts']];

// what the user looked at last, shown again when they come back
let last = { orgId: '', tab: 'chart' };

const orgNames = new Map();

function orgName(ctx, id) {
  if (!orgNames.has(id)) {
    orgNames.set(id, ctx.api('GET', '/orgs/' + encodeURIComponent(id))
      .then((r) => r.organization.name)
      .catch(() => { orgNames.delete(id); return 'Your organization'; }));
  }
  return orgNames.get(id);
}

export function start(ctx) {
  ctx.socket.on('system_event', async (f) => {
    const e = f.event;
    if (e?.event_type !== 'org_broadcast') return;
    const name = await orgName(ctx, e.org_id);
    ctx.banner(`${name}: ${e.title}${e.message ? ' — ' + e.message : ''}`, 'broadcast');
  });
}

export function mount(root, ctx, params = {}) {
  const list = el('nav', { class: 'orgs', 'aria-label': 'Your organizations' });
  const view = el('div', { class: 'org' });
  root.append(el('h2', {}, 'Organizations'), list, view);
  let alive = true;

  ctx.api('GET', '/users/me').then((me) => {
    if (!alive) return;
    const orgs = me.organizations || [];
    if (!orgs.length) {
      list.append(el('p', { class: 'muted' }, 'You are not a member of any organization.'));
      return;
    }
    for (const m of orgs) {
      orgNames.set(m.organization.id, Promise.resolve(m.organization.name));
      list.append(el('button', { type: 'button', class: 'secondary', 'data-org-id': m.organization.id,
        onclick: () => open(m, 'chart') }, m.organization.name));
    }
    const want = orgs.find((m) => m.organization.id === (params.orgId || last.orgId)) || orgs[0];
    open(want, params.tab || last.tab);
  }).catch((e) => view.replaceChildren(el('p', { class: 'error' }, e.message)));

  function open(m, tab) {
    last = { orgId: m.organization.id, tab };
    for (const b of list.querySelectorAll('button')) b.setAttribute('aria-current', b.dataset.orgId === last.orgId ? 'true' : 'false');
    view.replaceChildren(orgView(ctx, m, tab, () => alive));
  }
  return () => { alive = false; };
}

// orgView is one organization: what the user is there, and its tabs.
function orgView(ctx, m, tab, alive) {
  const o = m.organization;
  const path = '/orgs/' + encodeURIComponent(o.id);
  const mine = m.departments.map((d) => d.name + (d.job_position ? ` (${d.job_position.name})` : '') + (d.primary ? ', primary' : ''));
  const tabs = el('div', { class: 'tabs', role: 'group', 'aria-label': o.name });
  const body = el('div', { class: 'tab-body' });
  const head = el('div', { class: 'org-head' },
    el('h3', {}, o.name, o.archived ? ' (archived)' : ''),
    o.description ? el('p', {}, o.description) : null,
    el('p', { class: 'muted' }, `${o.member_count} members`,
      mine.length ? ' · your departments: ' + mine.join('; ') : '',
      m.roles.length ? ' · your roles: ' + m.roles.map((g) => g.role_name).join(', ') : ''),
    tabs, body);

  // the chart, the department rooms and the rooms the user is in serve several tabs
  const data = Promise.all([
    ctx.api('GET', path + '/departments'),
    ctx.api('GET', path + '/department-rooms'),
    ctx.api('GET', '/rooms?mine=true').catch(() => ({ rooms: [] })),
  ]).then(([c, r, my]) => {
    const inRoom = new Set((my.rooms || []).map((x) => x.id));
    const rooms = new Map((r.department_rooms || []).map((x) => [x.department_id, { ...x, mine: inRoom.has(x.room_id) }]));
    return { depts: c.departments || [], rooms };
  });

  const show = (name, filter) => {
    last.tab = name;
    for (const b of tabs.children) b.setAttribute('aria-pressed', String(b.dataset.tab === name));
    body.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    const fill = (node) => { if (alive() && last.tab === name) body.replaceChildren(node); };
    const fail = (e) => fill(el('p', { class: 'error' }, e.message));
    if (name === 'broadcasts') {
      broadcasts(ctx, path).then(fill, fail);
      return;
    }
    data.then(({ depts, rooms }) => {
      if (name === 'chart') {
        fill(chart(depts, rooms, { onMembers: (d) => show('directory', { departmentId: d.id }), onRoom: (id) => ctx.openRoom(id) }));
      } else if (name === 'directory') {
        fill(directory(ctx, o.id, flatten(depts), filter));
      } else {
        fill(roomList(ctx, flatten(depts), rooms));
      }
    }, fail);
  };
  for (const [name, label] of TABS) {
    tabs.append(el('button', { type: 'button', class: 'secondary', 'data-tab': name, onclick: () => show(name) }, label));
  }
  show(TABS.some(([n]) => n === tab) ? tab : 'chart');
  return head;
}

function roomList(ctx, depts, rooms) {
  const items = depts.filter((d) => rooms.has(d.id)).map((d) => {
    const r = rooms.get(d.id);
    return el('li', { 'data-room-id': r.room_id },
      el('strong', {}, r.name), ' ', el('span', { class: 'muted' }, d.name), ' ',
      r.mine
        ? el('button', { type: 'button', class: 'secondary small', onclick: () => ctx.openRoom(r.room_id) }, 'Open')
        : el('span', { class: 'muted' }, '(for the department’s members)'));
  });
  return items.length ? el('ul', { id: 'org-rooms', class: 'plain' }, items) : el('p', { class: 'muted' }, 'No department has a room yet.');
}

async function broadcasts(ctx, path) {
  const r = await ctx.api('GET', path + '/broadcasts?limit=50');
  const items = (r.broadcasts || []).map((b) => el('li', { class: 'broadcast' },
    el('strong', {}, b.title),
    el('span', { class: 'muted' }, ' from ', nameInto(ctx, b.sent_by, el('span', {}, '…')), ' · ',
      el('time', { datetime: b.sent_at }, new Date(b.sent_at).toLocaleString())),
    el('p', {}, b.body)));
  return items.length ? el('ul', { id: 'org-broadcasts', class: 'plain' }, items) : el('p', { class: 'muted' }, 'No broadcasts yet.');
}
