// Messages on their way: each send gets a client_msg_id and waits here, shown as pending, until
// its ack. While the socket is down they wait; when it opens they go, one at a time in the order
// they were typed, with the same client_msg_id, so a retry after a lost ack answers the original
// message instead of sending it twice. An error that retrying cannot fix marks the message failed.
import { uuid } from './api.js';

const RETRY = new Set(['disconnected', 'timeout', 'unavailable', 'rate_limited', 'internal', 'not_caught_up']);
const boxes = new WeakMap();

// outbox is the ctx's one outbox, made on first use.
export function outbox(ctx) {
  if (!boxes.has(ctx)) boxes.set(ctx, new Outbox(ctx));
  return boxes.get(ctx);
}

class Outbox {
  constructor(ctx) {
    this.ctx = ctx;
    this.items = [];
    this.listeners = new Set();
    this.pumping = false;
    ctx.socket.on('open', () => this.pump());
  }

  // on(fn) calls fn(kind, item, message?) for 'added', 'failed' and 'acked' (with the message).
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(kind, item, message) {
    for (const fn of this.listeners) fn(kind, item, message);
  }

  of(roomId) {
    return this.items.filter((i) => i.roomId === roomId);
  }

  add(roomId, body) {
    const item = { key: uuid(), roomId, body, actingFor: this.ctx.actingFor, state: 'pending', error: null, created: new Date() };
    this.items.push(item);
    this.emit('added', item);
    this.pump();
    return item;
  }

  discard(item) {
    this.items = this.items.filter((i) => i !== item);
    this.emit('acked', item, null);
  }

  async pump() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let item;
      while (this.ctx.socket.state === 'open' && (item = this.items.find((i) => i.state === 'pending'))) {
        const frame = { type: 'send_message', room_id: item.roomId, ...item.body, client_msg_id: item.key };
        if (item.actingFor) frame.on_behalf_of = item.actingFor.id;
        try {
          const res = await this.ctx.socket.send(frame);
          this.items = this.items.filter((i) => i !== item);
          this.emit('acked', item, res.message);
        } catch (e) {
          if (e.code === 'disconnected') break; // the next open pumps again
          if (!RETRY.has(e.code)) {
            item.state = 'failed';
            item.error = e.message;
            this.emit('failed', item);
            continue;
          }
          await new Promise((r) => setTimeout(r, 1000 * Math.max(1, e.retryAfter || 1)));
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
