// Online time: an organization of the admin's (GET /orgs), a department and a date range give
// GET /orgs/{id}/reports/online-time as a bar chart per day and a table per member, and the
// same report as CSV.
import { el } from '../api.js';
import { barChart } from './chart.js';
import { download, query, field, isoDate, addDays, duration, errorLine, table } from './kit.js';

const hours = (s) => (s / 3600).toFixed(1);

// flatten lists the org chart's departments depth first, indented by depth.
function flatten(deps, out = [], depth = 0) {
  for (const d of deps) {
    out.push({ id: d.id, name: d.name, depth: d.depth ?? depth });
    if (d.children) flatten(d.children, out, depth + 1);
  }
  return out;
}

export function mount(root, ctx) {
  const org = el('select', { name: 'org', required: true });
  const dept = el('select', { name: 'department' });
  const today = isoDate(new Date());
  const [lFrom, from] = field('From', { type: 'date', name: 'from', value: addDays(today, -6), required: true });
  const [lTo, to] = field('To', { type: 'date', name: 'to', value: today, required: true });
  const error = errorLine();
  const out = el('div', { id: 'report' });
  const params = () => ({ from: from.value, to: to.value, department_id: dept.value });

  async function departments() {
    dept.replaceChildren(el('option', { value: '' }, 'The whole organization'));
    if (!org.value) return;
    try {
      const { departments: ds } = await ctx.api('GET', `/orgs/${org.value}/departments`);
      for (const d of flatten(ds)) dept.append(el('option', { value: d.id }, '\u2003'.repeat(d.depth) + d.name));
    } catch (e) {
      error.textContent = e.message;
    }
  }

  async function show() {
    error.textContent = '';
    try {
      const r = await ctx.api('GET', `/orgs/${org.value}/reports/online-time` + query(params()));
      const perDay = new Map();
      for (const u of r.users) for (const d of u.days) perDay.set(d.date, (perDay.get(d.date) || 0) + d.seconds);
      // Every day of the range, the days nobody was online included.
      const days = [];
      for (let d = r.from; d <= r.to; d = addDays(d, 1)) days.push([d, perDay.get(d) || 0]);
      out.replaceChildren(
        el('p', { class: 'muted' }, `${r.users.length} members; days in ${r.time_zone}.`),
        barChart({ id: 'chart-online', title: 'Hours online per day, all members together', data: days.map(([d, s]) => [d, Number(hours(s))]), fmt: (v) => String(v), unit: ' h' }),
        table('Per member', ['member', 'total', 'days online', 'longest day'], r.users.map((u) => [
          u.username, duration(u.total_seconds), String(u.days.filter((d) => d.seconds > 0).length),
          duration(Math.max(0, ...u.days.map((d) => d.seconds)))]), { id: 'report-members' }));
    } catch (e) {
      out.replaceChildren();
      error.textContent = e.message;
    }
  }

  async function csv() {
    error.textContent = '';
    try {
      await download(`/orgs/${org.value}/reports/online-time` + query({ ...params(), format: 'csv' }), `online-time-${from.value}-${to.value}.csv`);
    } catch (e) {
      error.textContent = e.message;
    }
  }

  const form = el('form', { class: 'filters', 'aria-label': 'Report' },
    el('label', {}, 'Organization', org), el('label', {}, 'Department', dept), lFrom, lTo,
    el('div', { class: 'actions' }, el('button', { type: 'submit', id: 'show-report' }, 'Show report'),
      el('button', { type: 'button', class: 'secondary', onclick: csv }, 'Download CSV')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    show();
  });
  org.addEventListener('change', departments);
  root.append(el('h1', {}, 'Online time'), form, error, out);

  (async () => {
    try {
      const { organizations } = await ctx.api('GET', '/orgs');
      if (!organizations.length) {
        form.replaceWith(el('p', { class: 'muted' }, 'You are a member of no organization: the reports are those of your organizations.'));
        return;
      }
      org.replaceChildren(...organizations.map((m) => el('option', { value: m.organization.id }, m.organization.name)));
      await departments();
    } catch (e) {
      error.textContent = e.message;
    }
  })();
}
