// Health: the dependencies as the gateway answering sees them (its /readyz checks), its
// sockets, and rates from its /metrics counters (GET /admin/overview), every 2 s while the tab
// is visible. A rate is the difference of two readings over the time between them.
import { el } from '../api.js';
import { barChart } from './chart.js';
import { poll, num, time, errorLine } from './kit.js';

const keep = 30; // readings of commands per second the chart shows

export function mount(root, ctx) {
  const error = errorLine();
  const who = el('p', { class: 'muted', id: 'health-instance' });
  const checks = el('ul', { class: 'checks', id: 'checks', 'aria-label': 'Dependencies' });
  const figures = el('dl', { class: 'figures', id: 'figures' });
  const projs = el('div', { id: 'health-projections' });
  const chart = el('div', { id: 'rate-chart' });
  root.append(el('h1', {}, 'Health'), who, error, el('h2', {}, 'Dependencies'), checks, projs,
    el('h2', {}, 'This gateway'), figures, chart);
  let prev = null;
  const rates = [];

  function rate(m, name) {
    if (!prev) return null;
    const secs = (Date.parse(m.at) - Date.parse(prev.at)) / 1000;
    if (secs <= 0) return null;
    return Math.max(0, (m.metrics[name] - prev.metrics[name]) / secs);
  }

  async function refresh() {
    const o = await ctx.api('GET', '/admin/overview');
    error.textContent = '';
    who.textContent = `Instance ${o.instance} (${o.roles.join(', ')}), read at ${time(o.at)}. ${o.ready ? 'Ready.' : 'NOT READY.'}`;
    checks.replaceChildren(...Object.entries(o.checks).sort().map(([k, v]) => el('li', { 'data-check': k, 'data-ok': String(v === 'ok') },
      el('span', { class: 'state ' + (v === 'ok' ? 'live' : 'failed') }, v === 'ok' ? 'ok' : 'failing'), ` ${k}`, v === 'ok' ? null : el('span', { class: 'error' }, `: ${v}`))));
    projs.replaceChildren(...(o.projections ? [el('h3', {}, 'Projectors of this process'), el('ul', {},
      Object.entries(o.projections).map(([k, p]) => el('li', {}, `${k}: ${p.status}, ${num(p.dead_lettered)} dead letters${p.error ? ': ' + p.error : ''}`)))] : []));
    const m = o.metrics;
    const sent = rate(o, 'chorus_commands_sent_total');
    const decided = rate(o, 'chorus_commands_total');
    const pushes = rate(o, 'chorus_pushes_delivered_total');
    const reqs = rate(o, 'chorus_http_requests_total');
    const r = (v) => (v === null ? 'measuring…' : v.toFixed(1));
    const fig = (label, value, key) => [el('dt', {}, label), el('dd', { 'data-figure': key }, value)];
    figures.replaceChildren(
      ...fig('Connected sockets', num(m.chorus_websocket_connections), 'sockets'),
      ...fig('Commands sent per second', r(sent), 'commands-rate'),
      ...(o.roles.includes('commands') ? fig('Commands decided per second (this process)', r(decided), 'decided-rate') : []),
      ...fig('Pushes delivered per second', r(pushes), 'pushes-rate'),
      ...fig('HTTP requests per second', r(reqs), 'requests-rate'),
      ...fig('Commands sent since start', num(m.chorus_commands_sent_total), 'commands'),
      ...fig('Kafka errors / Redis errors since start', `${num(m.chorus_kafka_errors_total)} / ${num(m.chorus_redis_errors_total)}`, 'errors'));
    if (sent !== null) {
      rates.push([new Date(o.at).toTimeString().slice(0, 8), Number(sent.toFixed(1))]);
      if (rates.length > keep) rates.shift();
      chart.replaceChildren(barChart({ id: 'chart-commands', title: 'Commands sent per second, last minute', data: rates, fmt: String }));
    }
    prev = o;
  }

  return poll(() => refresh().catch((e) => {
    error.textContent = e.message;
    throw e;
  }), 2000);
}
