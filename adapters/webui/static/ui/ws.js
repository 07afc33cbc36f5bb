// The socket: one WebSocket to /ws for the signed-in user, reconnected with backoff when it
// drops. Frames are dispatched by type to listeners; send() numbers a frame and resolves with
// its ack's result (or rejects with the error frame's {code, message}); notify() sends a frame
// that gets no answer (typing). Listeners of 'open' get {reconnected}: true after a drop, when
// the sections resume what they show. A heartbeat keeps a quiet socket open (the server closes
// one after 60 s without a frame).
import { APIError } from './api.js';

export class Socket {
  constructor(token) {
    this.token = token;
    this.listeners = new Map();
    this.pending = new Map();
    this.next = 1;
    this.state = 'closed';
    this.closed = false;
    this.attempt = 0;
    this.onState = null;
    this.opened = 0;
    this.beat = null;
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(type, frame) {
    for (const fn of this.listeners.get(type) || []) {
      try { fn(frame); } catch (e) { console.error(e); }
    }
  }

  setState(st) {
    this.state = st;
    this.onState?.(st);
    this.emit('state', { state: st });
  }

  connect() {
    const token = this.token();
    if (this.closed) return;
    if (!token) { // the session ended while away: as the server's 4001 would say
      this.setState('closed');
      this.emit('close', { code: 4001, reason: 'session_expired' });
      return;
    }
    this.setState(this.attempt ? 'reconnecting' : 'connecting');
    const url = new URL('/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.opened++;
      clearInterval(this.beat);
      this.beat = setInterval(() => this.notify({ type: 'heartbeat' }), 25000);
      this.setState('open');
      this.emit('open', { reconnected: this.opened > 1 });
    };
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if ((f.type === 'ack' || f.type === 'error' || f.type === 'resumed' || f.type === 'pong') && f.id && this.pending.has(f.id)) {
        const p = this.pending.get(f.id);
        this.pending.delete(f.id);
        if (f.type === 'error') p.reject(new APIError(0, f.code, f.message));
        else p.resolve(f.type === 'ack' ? f.result : f);
        return;
      }
      this.emit(f.type, f);
    };
    ws.onclose = (ev) => {
      clearInterval(this.beat);
      if (this.ws !== ws) return;
      for (const p of this.pending.values()) p.reject(new APIError(0, 'disconnected', 'the connection dropped'));
      this.pending.clear();
      if (this.closed) return this.setState('closed');
      this.emit('close', { code: ev.code, reason: ev.reason });
      if (ev.code === 4001) return this.setState('closed'); // session expired or revoked
      this.attempt++;
      this.setState('reconnecting');
      const delay = Math.min(10000, 250 * 2 ** Math.min(this.attempt, 6)) * (0.5 + Math.random() / 2);
      setTimeout(() => this.connect(), delay);
    };
  }

  send(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new APIError(0, 'disconnected', 'not connected'));
        return;
      }
      const id = String(this.next++);
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  // notify sends a frame without an id: nothing answers it but an error, which listeners of
  // 'error' see. It is dropped when the socket is not open.
  notify(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  close() {
    this.closed = true;
    this.ws?.close(1000);
  }
}
