// Bar charts as SVG built with DOM calls (no library, no markup strings). Each bar is a <g
// class="bar"> with data-key and data-value and a <title>, so that a pointer shows its figure;
// the same figures follow as a table for screen readers and copying.
import { el } from '../api.js';
import { num, table } from './kit.js';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// barChart draws data ([[label, value], …]) as a figure: vertical bars (one per day, say) or,
// with horizontal, one row per label (event types). fmt formats a value; id names the figure.
export function barChart({ id, title, data, horizontal = false, fmt = num, unit = '' }) {
  const max = Math.max(1, ...data.map(([, v]) => v));
  const label = `${title}: ${data.length ? data.map(([k, v]) => `${k} ${fmt(v)}`).join(', ') : 'no data'}`;
  let chart;
  if (!data.length) {
    chart = el('p', { class: 'muted' }, 'Nothing to show.');
  } else if (horizontal) {
    const row = 22;
    const labelW = 170;
    const barW = 300;
    const h = data.length * row + 4;
    chart = svg('svg', { viewBox: `0 0 ${labelW + barW + 90} ${h}`, class: 'chart horizontal', role: 'img', 'aria-label': label });
    data.forEach(([k, v], i) => {
      const y = i * row + 2;
      const w = Math.max(1, (v / max) * barW);
      chart.append(svg('g', { class: 'bar', 'data-key': k, 'data-value': v },
        svg('title', {}, `${k}: ${fmt(v)}${unit}`),
        svg('text', { x: labelW - 6, y: y + row * 0.68, 'text-anchor': 'end', class: 'axis' }, k),
        svg('rect', { x: labelW, y: y + 3, width: w, height: row - 6, rx: 2 }),
        svg('text', { x: labelW + w + 6, y: y + row * 0.68, class: 'value' }, fmt(v))));
    });
  } else {
    const colW = Math.max(14, Math.min(48, 640 / data.length));
    const plotH = 160;
    const w = Math.max(480, data.length * colW + 20); // a few bars stay bars, not posters
    const every = Math.ceil(data.length / 12); // at most a dozen labels under the bars
    chart = svg('svg', { viewBox: `0 0 ${w} ${plotH + 50}`, class: 'chart vertical', role: 'img', 'aria-label': label });
    chart.append(svg('line', { x1: 10, x2: w - 10, y1: plotH + 20, y2: plotH + 20, class: 'base' }));
    data.forEach(([k, v], i) => {
      const x = 10 + i * colW;
      const h = (v / max) * plotH;
      const g = svg('g', { class: 'bar', 'data-key': k, 'data-value': v },
        svg('title', {}, `${k}: ${fmt(v)}${unit}`),
        svg('rect', { x: x + 2, y: plotH + 20 - h, width: colW - 4, height: Math.max(h, 0.5), rx: 2 }));
      if (data.length <= 16) g.append(svg('text', { x: x + colW / 2, y: plotH + 14 - h, 'text-anchor': 'middle', class: 'value' }, fmt(v)));
      if (i % every === 0) g.append(svg('text', { x: x + colW / 2, y: plotH + 36, 'text-anchor': 'middle', class: 'axis' }, /^\d{4}-\d\d-\d\d$/.test(k) ? k.slice(5) : k));
      chart.append(g);
    });
  }
  return el('figure', { id, class: 'chart-figure' }, el('figcaption', {}, title), chart,
    data.length ? el('details', {}, el('summary', {}, 'As a table'),
      table(null, ['', 'value'], data.map(([k, v]) => [k, fmt(v) + unit]))) : null);
}
