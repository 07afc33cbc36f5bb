// The event log: counts by type and by day as charts (GET /admin/events/stats), a filtered
// replay saved as JSON lines or CSV (GET /admin/events), and a live tail (follow=true, read as
// a stream, stopped when the admin leaves the section or the page).
import { el } from '../api.js';
import { barChart } from './chart.js';
import { raw, download, query, num, field, addDays, errorLine } from './kit.js';

const maxTail = 200; // lines the tail keeps on screen

export function mount(root, ctx) {
  const [lFrom, from] = field('From (UTC date)', { type: 'date', name: 'from' });
  const [lTo, to] = field('Through (UTC date)', { type: 'date', name: 'to' });
  const [lType, type] = field('Types (comma-separated)', { name: 'type', list: 'event-types', placeholder: 'MessageSent,RoomCreated' });
  const [lRoom, room] = field('Room id', { name: 'room', placeholder: 'UUID' });
  const [lUser, user] = field('User id', { name: 'user', placeholder: 'UUID' });
  const types = el('datalist', { id: 'event-types' });
  const error = errorLine();
  const status = el('p', { class: 'muted', id: 'events-status', role: 'status' });
  const charts = el('div', { class: 'charts', id: 'event-charts' });
  const tailList = el('ol', { id: 'tail', class: 'tail', role: 'log', 'aria-label': 'Live tail' });
  const tailBtn = el('button', { type: 'button', class: 'secondary', id: 'tail-toggle' }, 'Start live tail');
  let tail = null; // the AbortController of the running tail

  // filters are the form's fields as the API's parameters; through a date means to the next one.
  const filters = () => ({ from: from.value, to: to.value ? addDays(to.value, 1) : '', type: type.value.replace(/\s+/g, ''), room: room.value.trim(), user: user.value.trim() });

  async function count() {
    error.textContent = '';
    status.textContent = 'Counting…';
    try {
      const st = await ctx.api('GET', '/admin/events/stats' + query(filters()));
      const byType = Object.entries(st.by_type).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      const byDay = Object.entries(st.by_day).sort((a, b) => a[0].localeCompare(b[0]));
      if (!type.value) types.replaceChildren(...byType.map(([t]) => el('option', { value: t })));
      charts.replaceChildren(
        barChart({ id: 'chart-by-type', title: 'Events by type', data: byType, horizontal: true }),
        barChart({ id: 'chart-by-day', title: 'Events by day (UTC)', data: byDay }));
      status.textContent = `${num(st.events)} events` + (st.first_occurred_at ? `, ${st.first_occurred_at} to ${st.last_occurred_at}` : '') + '.';
      status.dataset.events = st.events;
    } catch (e) {
      status.textContent = '';
      error.textContent = e.message;
    }
  }

  async function save(format) {
    error.textContent = '';
    status.textContent = 'Replaying…';
    try {
      const name = `chorus-events.${format === 'csv' ? 'csv' : 'jsonl'}`;
      const blob = await download('/admin/events' + query({ ...filters(), format }), name);
      const lines = (await blob.text()).split('\n').filter((l) => l).length - (format === 'csv' ? 1 : 0);
      status.textContent = `Saved ${name}: ${num(Math.max(lines, 0))} events, ${num(Math.ceil(blob.size / 1024))} KB.`;
    } catch (e) {
      status.textContent = '';
      error.textContent = e.message;
    }
  }

  function line(text) {
    let ev;
    try {
      ev = JSON.parse(text);
    } catch {
      return el('li', {}, text);
    }
    // A message's text first, as a reader looks for it; otherwise the data, shortened.
    const content = ev.data?.message?.content ?? ev.data?.content;
    const data = typeof content === 'string' ? content : JSON.stringify(ev.data ?? {});
    return el('li', { 'data-type': ev.type },
      el('time', {}, ev.occurred_at), ' ', el('strong', {}, ev.type), ` ${ev.aggregate_type} ${ev.aggregate_id} `,
      el('code', {}, data.length > 200 ? data.slice(0, 200) + '…' : data));
  }

  async function startTail() {
    const { type: t, room: r, user: u } = filters();
    tail = new AbortController();
    tailBtn.textContent = 'Stop live tail';
    tailList.replaceChildren();
    error.textContent = '';
    // From now on: what is committed from here, not the whole log first.
    const since = new Date().toISOString();
    try {
      const res = await raw('/admin/events' + query({ from: since, type: t, room: r, user: u, follow: 'true' }), { signal: tail.signal });
      tailBtn.dataset.state = 'running';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parts = (rest + value).split('\n');
        rest = parts.pop();
        for (const p of parts) if (p) tailList.prepend(line(p));
        while (tailList.children.length > maxTail) tailList.lastChild.remove();
      }
    } catch (e) {
      if (e.name !== 'AbortError') error.textContent = 'Live tail: ' + e.message;
    }
    stopTail();
  }

  function stopTail() {
    tail?.abort();
    tail = null;
    tailBtn.textContent = 'Start live tail';
    tailBtn.dataset.state = 'stopped';
  }

  tailBtn.addEventListener('click', () => (tail ? stopTail() : startTail()));
  const form = el('form', { class: 'filters', 'aria-label': 'Event filters' }, lFrom, lTo, lType, lRoom, lUser, types,
    el('div', { class: 'actions' },
      el('button', { type: 'submit', id: 'count' }, 'Count'),
      el('button', { type: 'button', class: 'secondary', id: 'save-jsonl', onclick: () => save('jsonl') }, 'Download JSON lines'),
      el('button', { type: 'button', class: 'secondary', id: 'save-csv', onclick: () => save('csv') }, 'Download CSV')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    count();
  });
  root.append(el('h1', {}, 'Event log'), form, error, status, charts,
    el('h2', {}, 'Live tail'), el('p', { class: 'muted' }, 'Events committed from now on that match the types, room and user above, newest first.'),
    tailBtn, tailList);
  count();
  return stopTail;
}
