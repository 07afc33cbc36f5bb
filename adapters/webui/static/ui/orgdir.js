// An organization's directory (GET /orgs/{id}/members): its members by username, found by
// name, department (with the departments below it), job position and role, paged.
import { el } from './api.js';

const PAGE = 50;

// directory builds the search form and its results. depts is the chart flattened (orgchart.js
// flatten), filter the filters to start with ({departmentId}).
export function directory(ctx, orgId, depts, filter = {}) {
  const path = '/orgs/' + encodeURIComponent(orgId);
  const deptName = new Map(depts.map((d) => [d.id, d.name]));
  const q = el('input', { type: 'search', name: 'q', maxlength: 100, autocomplete: 'off' });
  const dept = el('select', { name: 'department_id' }, el('option', { value: '' }, 'Any department'),
    depts.map((d) => el('option', { value: d.id }, '\u00a0\u00a0'.repeat(d.depth) + d.name)));
  const pos = el('select', { name: 'position_id' }, el('option', { value: '' }, 'Any position'));
  const role = el('select', { name: 'role_id' }, el('option', { value: '' }, 'Any role'));
  const form = el('form', { role: 'search', class: 'search-form', 'aria-label': 'Search the directory' },
    el('label', {}, 'Name', q), el('label', {}, 'Department', dept), el('label', {}, 'Position', pos),
    el('label', {}, 'Role', role), el('button', { type: 'submit' }, 'Find'));
  const status = el('p', { class: 'muted', 'aria-live': 'polite' });
  const list = el('ul', { id: 'org-directory', class: 'members', 'aria-label': 'Members found' });
  const more = el('button', { type: 'button', class: 'secondary', hidden: true }, 'More');

  const filters = Promise.all([
    ctx.api('GET', path + '/positions').then((r) => pos.append(...(r.job_positions || []).map((p) => el('option', { value: p.id }, p.name)))),
    ctx.api('GET', path + '/roles').then((r) => role.append(...(r.roles || []).filter((x) => x.name !== 'member').map((x) => el('option', { value: x.id }, x.name)))),
  ]).catch(() => { /* searching by name and department still works */ });

  let cursor = null;
  let gen = 0;
  async function load(append) {
    const my = ++gen;
    const query = new URLSearchParams({ limit: PAGE });
    for (const [k, v] of [['q', q.value.trim()], ['department_id', dept.value], ['position_id', pos.value], ['role_id', role.value]]) {
      if (v) query.set(k, v);
    }
    if (append && cursor) query.set('cursor', cursor);
    try {
      const res = await ctx.api('GET', path + '/members?' + query);
      if (my !== gen) return;
      if (!append) list.replaceChildren();
      for (const m of res.members || []) {
        list.append(el('li', { class: 'member', 'data-username': m.username },
          el('strong', {}, m.display_name || m.username), ' ', el('span', { class: 'muted' }, '@' + m.username),
          m.primary_department_id ? el('span', { class: 'dept-name' }, deptName.get(m.primary_department_id) || '') : null));
      }
      cursor = res.next_cursor;
      more.hidden = !cursor;
      const n = list.children.length;
      status.textContent = n ? `${n}${cursor ? '+' : ''} member${n === 1 ? '' : 's'}` : 'No member matches.';
    } catch (e) {
      if (my === gen) status.textContent = e.message;
    }
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load(false);
  });
  more.addEventListener('click', () => load(true));
  if (filter.departmentId) dept.value = filter.departmentId;
  filters.then(() => load(false));
  return el('div', { class: 'directory' }, form, status, list, more);
}
