// The composer of the open room: Enter sends (Shift+Enter a new line), @ completes the room's
// members, typing is announced at most once a second, a reply shows what it answers. Messages
// go through the outbox (outbox.js), so one typed while offline waits there and goes later.
import { el } from './api.js';
import { label } from './users.js';

// composer(ctx, room, h) → {form, replyTo(m)}; h: {members() → [User], send(body), actingFor()}.
export function composer(ctx, room, h) {
  const text = el('textarea', { id: 'compose', name: 'content', rows: 2, dir: 'auto', placeholder: 'Write a message…',
    'aria-label': 'Message', 'aria-autocomplete': 'list', 'aria-controls': 'mentions', autocomplete: 'off' });
  const kind = el('select', { name: 'message_type', 'aria-label': 'Message type' },
    el('option', { value: 'text' }, 'Text'), el('option', { value: 'image' }, 'Image URL'), el('option', { value: 'file' }, 'File URL'));
  const replyBar = el('div', { class: 'replybar', hidden: true });
  const list = el('ul', { id: 'mentions', role: 'listbox', class: 'mentions', hidden: true, 'aria-label': 'Members to mention' });
  const acting = el('p', { class: 'acting', hidden: true });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { class: 'composer', 'aria-label': 'Send a message' }, replyBar, acting, list,
    el('div', { class: 'row' }, kind, text, el('button', { type: 'submit' }, 'Send')), error);
  let reply = null;
  let lastTyping = 0;
  let choices = [];
  let active = 0;
  let swallow = false;

  function replyTo(m) {
    reply = m;
    replyBar.hidden = !m;
    replyBar.replaceChildren();
    if (m) {
      replyBar.append(el('span', { dir: 'auto' }, 'Replying to: ', m.content.slice(0, 80)),
        el('button', { type: 'button', class: 'secondary small', 'aria-label': 'Cancel reply', onclick: () => replyTo(null) }, '×'));
      text.focus();
    }
  }

  function refreshActing() {
    const a = h.actingFor();
    acting.hidden = !a;
    acting.textContent = a ? `Sending for ${a.username} (as their proxy)` : '';
  }

  // the @word before the caret, if any
  function mentionAt() {
    const before = text.value.slice(0, text.selectionStart);
    const m = /(^|\s)@([A-Za-z0-9_.-]*)$/.exec(before);
    return m ? { start: before.length - m[2].length, prefix: m[2].toLowerCase() } : null;
  }

  function showChoices() {
    const at = mentionAt();
    choices = at ? h.members().filter((u) => u.username.toLowerCase().startsWith(at.prefix)).slice(0, 8) : [];
    active = 0;
    renderChoices();
  }

  function renderChoices() {
    list.hidden = choices.length === 0;
    list.replaceChildren(...choices.map((u, i) => el('li', { role: 'option', 'aria-selected': i === active ? 'true' : 'false',
      id: 'mention-' + i, onmousedown: (ev) => { ev.preventDefault(); pick(u); } }, '@' + u.username, ' ', el('span', { class: 'muted' }, label(u)))));
    if (choices.length) text.setAttribute('aria-activedescendant', 'mention-' + active);
    else text.removeAttribute('aria-activedescendant');
  }

  function pick(u) {
    const at = mentionAt();
    if (!at) return;
    const end = text.selectionStart;
    text.value = text.value.slice(0, at.start) + u.username + ' ' + text.value.slice(end);
    const caret = at.start + u.username.length + 1;
    text.setSelectionRange(caret, caret);
    choices = [];
    renderChoices();
    text.focus();
  }

  text.addEventListener('input', () => {
    showChoices();
    const now = Date.now();
    if (text.value.trim() && now - lastTyping > 1000) {
      lastTyping = now;
      ctx.socket.notify({ type: 'typing', room_id: room.id });
    }
  });
  text.addEventListener('keydown', (ev) => {
    if (choices.length) {
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        active = (active + (ev.key === 'ArrowDown' ? 1 : choices.length - 1)) % choices.length;
        return renderChoices();
      }
      if (ev.key === 'Enter' || ev.key === 'Tab') { ev.preventDefault(); swallow = true; return pick(choices[active]); }
      if (ev.key === 'Escape') { choices = []; return renderChoices(); }
    }
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      swallow = true;
      form.requestSubmit();
    }
  });
  // an Enter handled above inserts no line break, even where the key's character comes apart
  // from its keydown (synthetic input)
  text.addEventListener('beforeinput', (ev) => {
    if (swallow && ev.inputType === 'insertLineBreak') ev.preventDefault();
  });
  text.addEventListener('keyup', () => { swallow = false; });
  text.addEventListener('blur', () => { choices = []; renderChoices(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const content = text.value.trim();
    if (!content) return;
    const body = { content };
    if (kind.value !== 'text') body.message_type = kind.value;
    if (reply) body.reply_to_message_id = reply.id;
    h.send(body);
    text.value = '';
    kind.value = 'text';
    replyTo(null);
    text.focus();
  });
  refreshActing();
  return { form, replyTo, refreshActing, focus: () => text.focus() };
}
