// What the console's sections share: polling that pauses in a hidden tab, requests whose
// answer is a file or a stream (they need the Authorization header, so no plain link can do
// them), saving a Blob, and small formatters.
import { APIError, el, session } from '../api.js';

// poll runs fn now and every ms while the tab is visible (a hidden tab asks nothing; showing it
// again refreshes at once). It returns stop. fn may return a number: the wait before the next run.
export function poll(fn, ms) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped || document.hidden) return;
    let next = ms;
    try {
      const n = await fn();
      if (typeof n === 'number') next = n;
    } catch {
      // the section shows its own errors; polling goes on
    }
    if (!stopped && !document.hidden) timer = setTimeout(tick, next);
  };
  const onVisibility = () => {
    if (!document.hidden && timer === null) tick();
  };
  document.addEventListener('visibilitychange', onVisibility);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

// raw fetches /api/v1 + path with the session's token and answers the Response, or throws the
// contract's error as an APIError.
export async function raw(path, opts = {}) {
  const headers = {};
  const s = session();
  if (s) headers.Authorization = 'Bearer ' + s.token;
  const res = await fetch('/api/v1' + path, { headers, signal: opts.signal });
  if (!res.ok) {
    let err = {};
    try {
      err = (await res.json()).error || {};
    } catch {
      err = {};
    }
    throw new APIError(res.status, err.code || 'http_' + res.status, err.message || res.statusText);
  }
  return res;
}

// download fetches path and saves its body as name through a Blob URL; it answers the Blob.
export async function download(path, name) {
  const blob = await (await raw(path)).blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return blob;
}

// query builds ?a=b&… from the fields that are set.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

export const num = (n) => Number(n || 0).toLocaleString('en');
export const time = (t) => (t ? new Date(t).toLocaleTimeString() : '');

// duration shows seconds as 1 h 05 min, 3 min 20 s or 12 s.
export function duration(s) {
  s = Math.round(s || 0);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

// field is a labelled input.
export function field(label, attrs) {
  const input = el('input', attrs);
  return [el('label', {}, label, input), input];
}

// isoDate is d as YYYY-MM-DD (UTC).
export const isoDate = (d) => d.toISOString().slice(0, 10);

// addDays is the date days after YYYY-MM-DD.
export function addDays(day, days) {
  const d = new Date(day + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + days);
  return isoDate(d);
}

// errorLine is a paragraph for an error, announced to screen readers.
export const errorLine = () => el('p', { class: 'error', role: 'alert' });

// table builds a table from a header row and rows of cells (text or nodes).
export function table(caption, head, rows, attrs = {}) {
  return el('table', attrs, caption ? el('caption', {}, caption) : null,
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => (i === 0 ? el('th', { scope: 'row' }, c) : el('td', {}, c)))))));
}

// rerender replaces container's children with nodes, keeping what the admin had open
// (<details>) and the focus, matched by the data-key of the enclosing element: a refresh every
// 2 s must not close what is being read or throw the keyboard back to the top.
export function rerender(container, nodes) {
  const key = (e) => `${e.closest('[data-key]')?.dataset.key || ''}/${e.tagName}/${e.dataset.action || e.textContent}`;
  const open = new Set([...container.querySelectorAll('details[open]')].map(key));
  const a = document.activeElement;
  const focused = a && container.contains(a) ? key(a) : null;
  container.replaceChildren(...nodes);
  for (const d of container.querySelectorAll('details')) if (open.has(key(d))) d.open = true;
  if (focused) [...container.querySelectorAll('button, summary, a')].find((x) => key(x) === focused)?.focus();
}
