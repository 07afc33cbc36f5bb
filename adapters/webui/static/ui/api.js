// The protocol client both pages use: the public HTTP API (docs/protocol.md) with the token
// kept for the tab (sessionStorage), and errors as the contract's {code, message}.

const TOKEN = 'chorus.token';

export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

export function session() {
  const raw = sessionStorage.getItem(TOKEN);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw);
    if (!s.token || Date.parse(s.expires_at) <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(TOKEN, JSON.stringify({ token: s.token, expires_at: s.expires_at, user: s.user }));
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN);
}

// api calls /api/v1 + path. On 401 the session is dropped and onUnauthorized runs (back to
// sign-in); every other error is thrown as an APIError.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const s = session();
  if (s) headers.Authorization = 'Bearer ' + s.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  if (opts.onBehalfOf) headers['On-Behalf-Of'] = opts.onBehalfOf;
  const res = await fetch('/api/v1' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && path !== '/auth/login') {
      clearSession();
      api.onUnauthorized?.();
    }
    throw new APIError(res.status, err.code || 'http_' + res.status, err.message || res.statusText);
  }
  return data;
}

// el builds an element. Text always goes in as text, never as HTML: a message, a name or a
// room description can never become markup.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// uuid is a random (v4) UUID, for idempotency keys and client_msg_id. crypto.randomUUID exists
// only in secure contexts; getRandomValues everywhere.
export function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
