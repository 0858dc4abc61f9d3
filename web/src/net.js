// Requests: the HTTP API, and the socket's events that are answered (acks).
import { $, pill } from "./dom.js";
import { S } from "./state.js";
import { FIRST_WAIT_MS, RETRY_FOR_MS, nextWait, retryable } from "./timing.js";

export async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (S.token) headers.Authorization = "Bearer " + S.token;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((data.error && data.error.message) || `${res.status} ${res.statusText}`);
    err.status = res.status; err.code = data.error && data.error.code;
    throw err;
  }
  return data;
}

export function call(event, payload) {
  return new Promise((resolve, reject) => {
    S.socket.timeout(10000).emit(event, payload, (err, ack) => {
      if (err) reject(new Error("the server did not answer; check your connection"));
      else if (ack && ack.ok === false) reject(Object.assign(new Error(ack.error.message), { code: ack.error.code }));
      else resolve(ack);
    });
  });
}

// An event sent until it is taken, or refused for good: errors that say "not yet" send the same
// payload (same clientId, so never twice) again, a little later each time (timing.js).
export async function send(event, payload) {
  const until = Date.now() + RETRY_FOR_MS;
  for (let wait = FIRST_WAIT_MS; ; wait = nextWait(wait)) {
    try { const ack = await call(event, payload); if (S.socket.connected) pill($("conn"), "online", "ok"); return ack; }
    catch (e) {
      if (!retryable(e) || Date.now() + wait > until) throw e;
      pill($("conn"), "sending…", "warn");
      await new Promise((r) => setTimeout(r, wait));
      while (!S.socket.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    }
  }
}
