// One message as the conversation shows it: sender (and "sent by B for A" under a proxy), time,
// the reply it answers, the text (as text, dir="auto", @mentions marked), an image or file, and
// its actions. Nothing a user wrote ever becomes markup.
import { el } from './api.js';
import { nameEl } from './users.js';

// attachment parses an image or file message's content: an http(s) URL, or JSON with "url".
export function attachment(content) {
  let info = { url: content };
  if (content.trim().startsWith('{')) {
    try { info = JSON.parse(content); } catch { return null; }
  }
  try {
    const u = new URL(info.url, location.href);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return { ...info, url: u.href, sameOrigin: u.origin === location.origin };
  } catch {
    return null;
  }
}

function size(n) {
  if (typeof n !== 'number') return '';
  return n > 1 << 20 ? ` (${(n / (1 << 20)).toFixed(1)} MB)` : n > 1024 ? ` (${Math.round(n / 1024)} KB)` : ` (${n} B)`;
}

function body(m, members, me) {
  if (m.deleted) return el('p', { class: 'text deleted' }, 'This message was deleted.');
  if (m.message_type === 'image' || m.message_type === 'file') {
    const a = attachment(m.content);
    if (!a) return el('p', { class: 'text', dir: 'auto' }, m.content);
    const name = typeof a.name === 'string' && a.name ? a.name : a.url;
    const link = el('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer nofollow' }, name);
    if (m.message_type === 'image' && a.sameOrigin) {
      return el('figure', { class: 'attach' }, el('img', { src: a.url, alt: name, loading: 'lazy' }), el('figcaption', {}, link));
    }
    // The page's policy loads images from this server only: another site's image is a link.
    const what = m.message_type === 'image' ? '🖼 Image (another site, opens in a new tab): ' : '📎 File: ';
    return el('p', { class: 'text attach', dir: 'auto' }, what, link, size(a.size));
  }
  const p = el('p', { class: 'text', dir: 'auto' });
  for (const part of m.content.split(/(@[A-Za-z0-9_.-]+)/)) {
    const who = part.startsWith('@') && members.get(part.slice(1).toLowerCase());
    if (who) p.append(el('span', { class: who.id === me ? 'mention me' : 'mention' }, part));
    else if (part) p.append(part);
  }
  return p;
}

// renderMessage builds the element of message m. h: {me, members (username → user), canDelete(m),
// quote(id) → message or undefined, onReply(m), onEdit(m, content) → Promise, onDelete(m) → Promise}.
export function renderMessage(ctx, m, h) {
  const time = new Date(m.created_at);
  const meta = el('div', { class: 'meta' }, el('strong', {}, nameEl(ctx, m.sender_id)),
    m.sent_by ? el('span', { class: 'sentby' }, 'sent by ', nameEl(ctx, m.sent_by), ' for ', nameEl(ctx, m.sender_id)) : null,
    el('time', { datetime: m.created_at, title: time.toLocaleString() }, time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
    m.edited_at && !m.deleted ? el('span', { class: 'edited' }, '(edited)') : null);
  let quote = null;
  if (m.reply_to_message_id) {
    const q = h.quote(m.reply_to_message_id);
    quote = el('blockquote', { class: 'quote', dir: 'auto' }, '↪ ',
      q ? [nameEl(ctx, q.sender_id), ': ', q.deleted ? 'a deleted message' : q.content.slice(0, 80)] : 'an earlier message');
  }
  const li = el('li', { class: 'msg', 'data-id': m.id, 'data-seq': m.seq, tabindex: '-1' }, meta, quote, body(m, h.members, h.me));
  if (m.deleted) return li;
  const actions = el('div', { class: 'actions' });
  actions.append(el('button', { type: 'button', class: 'secondary small', 'aria-label': 'Reply', onclick: () => h.onReply(m) }, 'Reply'));
  if (m.sender_id === h.me && m.message_type === 'text') {
    actions.append(el('button', { type: 'button', class: 'secondary small edit', 'aria-label': 'Edit', onclick: () => edit(li, m, h) }, 'Edit'));
  }
  if (h.canDelete(m)) {
    const del = el('button', { type: 'button', class: 'secondary small delete', 'aria-label': 'Delete' }, 'Delete');
    del.addEventListener('click', () => {
      if (!del.classList.contains('confirm')) {
        del.classList.add('confirm');
        del.textContent = 'Delete for everyone?';
        return;
      }
      h.onDelete(m).catch((e) => ctx.banner(e.message, 'error'));
    });
    del.addEventListener('blur', () => { del.classList.remove('confirm'); del.textContent = 'Delete'; });
    actions.append(del);
  }
  li.append(actions);
  return li;
}

function edit(li, m, h) {
  const text = li.querySelector('.text');
  const area = el('textarea', { class: 'edit-text', 'aria-label': 'Edit message', dir: 'auto', rows: 2 });
  area.value = m.content;
  const error = el('span', { class: 'error', role: 'alert' });
  const cancel = () => f.replaceWith(text);
  const f = el('form', { class: 'edit-form' }, area,
    el('button', { type: 'submit', class: 'small' }, 'Save'),
    el('button', { type: 'button', class: 'secondary small', onclick: cancel }, 'Cancel'), error);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    h.onEdit(m, area.value).catch((e) => { error.textContent = e.message; });
  });
  area.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); f.requestSubmit(); }
    if (ev.key === 'Escape') cancel();
  });
  text.replaceWith(f);
  area.focus();
}
