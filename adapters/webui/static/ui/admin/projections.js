// Projections: each one's state, lag (events and seconds) per partition, dead letters and
// failures, refreshed every 2 s while the tab is visible; rebuild and verify as jobs of this
// gateway, each with a progress bar, cancel and its result.
import { el } from '../api.js';
import { poll, num, time, errorLine, table, rerender } from './kit.js';


export function mount(root, ctx) {
  const updated = el('p', { class: 'muted', id: 'proj-updated' });
  const error = errorLine();
  const list = el('div', { id: 'projections' });
  const jobs = el('div', { id: 'jobs' });
  // Only a job's change of state is announced, not every refresh of the page.
  const announce = el('p', { class: 'sr-only', role: 'status', id: 'job-announce' });
  root.append(el('h1', {}, 'Projections'), updated, error, list, el('h2', {}, 'Jobs on this gateway'), announce, jobs);
  let busy = new Set(); // projections with a job running here
  const seen = new Map(); // job id → state last shown

  async function start(kind, name) {
    error.textContent = '';
    try {
      await ctx.api('POST', `/admin/projections/${name}/${kind}`, {});
      await refresh();
    } catch (e) {
      error.textContent = `${kind} of ${name}: ${e.message}`;
    }
  }

  async function cancel(id) {
    try {
      await ctx.api('DELETE', `/admin/jobs/${id}`);
      await refresh();
    } catch (e) {
      error.textContent = e.message;
    }
  }

  // A consumer group as the broker describes it: its name, state and members.
  function group(name, state, members) {
    return `${name} (${state}, ${members} member${members === 1 ? '' : 's'})`;
  }

  function projection(p) {
    const failures = p.failures?.length
      ? el('ul', { class: 'failures' }, p.failures.map((f) => el('li', { class: 'error' },
        `${f.instance}: ${f.failures} failures since ${time(f.since)}: ${f.error}`)))
      : null;
    const actions = p.rebuildable
      ? el('div', { class: 'actions' },
        el('button', { class: 'secondary', 'data-action': 'rebuild', disabled: busy.has(p.projection), onclick: () => start('rebuild', p.projection) }, `Rebuild ${p.projection}`),
        el('button', { class: 'secondary', 'data-action': 'verify', disabled: busy.has(p.projection), onclick: () => start('verify', p.projection) }, `Verify ${p.projection}`))
      : null;
    const parts = table(null, ['topic', 'partition', 'checkpoint', 'log end', 'lag (events)', 'lag (s)', 'state'],
      p.partitions.map((x) => [`${x.topic}`, String(x.partition), x.checkpoint ?? '—', num(x.end_offset), num(x.lag_events),
        x.lag_seconds.toFixed(1), el('span', { class: 'state ' + x.state }, x.state)]), { class: 'partitions' });
    return el('article', { class: 'projection', 'data-projection': p.projection, 'data-key': p.projection },
      el('h3', {}, p.projection, ' ', el('span', { class: 'state ' + p.state, 'data-field': 'state' }, p.state)),
      el('dl', { class: 'figures' },
        el('dt', {}, 'Lag'), el('dd', { 'data-field': 'lag' }, `${num(p.lag_events)} events, ${p.lag_seconds.toFixed(1)} s`),
        el('dt', {}, 'Dead letters'), el('dd', { 'data-field': 'dead-letters', class: p.dead_letters ? 'error' : '' }, num(p.dead_letters)),
        el('dt', {}, 'Consumer group'), el('dd', {}, group(p.group, p.group_state, p.group_members)),
        p.quiet_group ? [el('dt', {}, 'Its quiet topics\u2019 group'), el('dd', { 'data-field': 'quiet-group' }, group(p.quiet_group, p.quiet_group_state, p.quiet_group_members ?? 0))] : null,
        p.rebuild ? [el('dt', {}, 'Generation'), el('dd', {}, `${p.rebuild.schema}: ${p.rebuild.running ? 'being built' : 'left by an interrupted rebuild'}, ${num(p.rebuild.behind)} offsets behind`)] : null),
      failures, actions,
      el('details', {}, el('summary', {}, `${p.partitions.length} partitions`), parts));
  }

  function result(j) {
    const r = j.result;
    if (j.error) return el('p', { class: 'error' }, `${j.error.code}: ${j.error.message}`);
    if (!r) return null;
    if (j.kind === 'rebuild') return el('p', { class: 'result' }, r.dropped ? 'Generation dropped.' : `Rebuilt: ${num(r.events_applied)} events applied${r.resumed ? ' (resumed)' : ''}.`);
    return el('div', { class: 'result' },
      el('p', {}, r.differing_rows === 0 ? `Verified: no differences (${num(r.events_replayed)} events replayed).` : `Verified: ${num(r.differing_rows)} differing rows.`),
      r.tables?.some((t) => t.differing_rows)
        ? table(null, ['table', 'differing rows'], r.tables.filter((t) => t.differing_rows).map((t) => [t.table, num(t.differing_rows)]))
        : null);
  }

  function job(j) {
    const id = 'progress-' + j.id;
    const { done, total } = j.progress;
    const pct = total ? Math.floor((100 * done) / total) : 0;
    return el('article', { class: 'job ' + j.state, 'data-key': j.id, 'data-job': j.id, 'data-kind': j.kind, 'data-projection': j.projection, 'data-state': j.state },
      el('h3', {}, `${j.kind} of ${j.projection} `, el('span', { class: 'state ' + j.state }, j.state)),
      el('p', { class: 'muted' }, `started by ${j.started_by} at ${time(j.started_at)}${j.finished_at ? `, ended at ${time(j.finished_at)}` : ''}`),
      el('label', { for: id }, `Progress: ${num(done)} of ${total ? num(total) : '?'} offsets (${pct} %)`),
      el('progress', { id, max: total || 1, value: total ? done : 0 }, `${pct} %`),
      j.state === 'running' ? el('button', { class: 'secondary', 'data-action': 'cancel', onclick: () => cancel(j.id) }, 'Cancel') : null,
      result(j));
  }

  async function refresh() {
    const [status, js] = await Promise.all([
      ctx.api('GET', '/admin/projections'),
      ctx.api('GET', '/admin/jobs').catch(() => ({ jobs: [] })),
    ]);
    busy = new Set(js.jobs.filter((j) => j.state === 'running').map((j) => j.projection));
    for (const j of js.jobs) {
      if (seen.has(j.id) && seen.get(j.id) !== j.state) announce.textContent = `${j.kind} of ${j.projection} ${j.state}`;
      seen.set(j.id, j.state);
    }
    rerender(list, status.projections.map(projection));
    rerender(jobs, js.jobs.length ? js.jobs.map(job) : [el('p', { class: 'muted' }, 'No job yet.')]);
    updated.textContent = `Updated at ${time(status.checked_at)}; refreshed every 2 s while this tab is shown.`;
    updated.dataset.checkedAt = status.checked_at;
    error.textContent = '';
    return busy.size ? 1000 : 2000;
  }

  return poll(() => refresh().catch((e) => {
    error.textContent = e.message;
    throw e;
  }), 2000);
}
