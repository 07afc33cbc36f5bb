// An organization's chart (GET /orgs/{id}/departments) as a tree of nested lists: each
// department with its head count (the people in it and below it), its head, a way to its
// members in the directory and to its room.
import { el } from './api.js';

// flatten is the chart's departments depth first, as the tree shows them.
export function flatten(depts, out = []) {
  for (const d of depts || []) {
    out.push(d);
    flatten(d.children, out);
  }
  return out;
}

// chart builds the tree. rooms maps department id → {room_id, name, mine}; onMembers(dept)
// shows a department's members; onRoom(roomId) opens a room.
export function chart(depts, rooms, { onMembers, onRoom }) {
  if (!depts?.length) return el('p', { class: 'muted' }, 'No departments yet.');
  return el('ul', { id: 'org-chart', class: 'tree', 'aria-label': 'Org chart' }, depts.map((d) => node(d, rooms, onMembers, onRoom)));
}

function node(d, rooms, onMembers, onRoom) {
  const people = (n) => `${n} ${n === 1 ? 'person' : 'people'}`;
  const room = rooms.get(d.id);
  const row = el('div', { class: 'node' },
    el('span', { class: 'name' }, d.name),
    el('span', { class: 'count', title: `${people(d.head_count)} in ${d.name} and below, ${d.direct_count} directly` }, people(d.head_count)),
    d.head_username ? el('span', { class: 'head' }, 'Head: ', d.head_username) : null,
    el('button', { type: 'button', class: 'secondary small', 'aria-label': `Members of ${d.name}`, onclick: () => onMembers(d) }, 'Members'),
    room && room.mine
      ? el('button', { type: 'button', class: 'secondary small', 'aria-label': `Open the room of ${d.name}`, onclick: () => onRoom(room.room_id) }, 'Room')
      : room ? el('span', { class: 'muted' }, 'Room for its members') : null);
  return el('li', { class: 'dept', 'data-id': d.id, 'data-name': d.name, 'data-head-count': d.head_count }, row,
    d.children?.length ? el('ul', {}, d.children.map((c) => node(c, rooms, onMembers, onRoom))) : null);
}
