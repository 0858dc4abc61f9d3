// How often and how long: the page's throttles, retries and the latency it shows. Pure.

// Premium usage is read at most twice a minute as captions arrive: how long to wait from `now`
// when it was last read at `at`.
export const USAGE_EVERY_MS = 30000;
export const usageWait = (at, now) => Math.max(0, at + USAGE_EVERY_MS - now);

// Errors that say "not yet" rather than "no" (and no answer at all): the same payload is sent
// again, a little later each time (from half a second, doubling, to 5 s), for up to two minutes.
export const RETRYABLE = new Set(["queue_unavailable", "internal", "busy", "rate_limited"]);
export const RETRY_FOR_MS = 120000;
export const FIRST_WAIT_MS = 500;
export const retryable = (e) => !e.code || RETRYABLE.has(e.code);
export const nextWait = (wait) => Math.min(wait * 2, 5000);

// Where to read the history from after a reconnect (or after the server lost messages at
// `lostAt`): a minute before the newest caption had, since a message received earlier may have
// been delivered later (ids dedupe).
export function historySince(watermark, lostAt) {
  return Math.max(0, Math.min(watermark, typeof lostAt === "number" ? lostAt : Infinity) - 60000);
}

// The latencies shown: the last ten plausible ones (from the end of speech to the caption).
export function keepLatency(latencies, latency) {
  if (latency == null || latency < 0 || latency >= 60000) return null;
  return [...latencies, latency].slice(-10);
}

// The latency pill: their median, and how it reads.
export function latencyLook(latencies) {
  const xs = [...latencies].sort((a, b) => a - b);
  const med = xs[Math.floor(xs.length / 2)];
  return [`latency ${(med / 1000).toFixed(1)} s`, med < 1500 ? "ok" : med < 3000 ? "warn" : "bad"];
}

// The voice room's pill for the agent's "playing" message: how far the spoken translation is
// behind the room, and how fast it is read to catch up.
export function lagLook(m) {
  const s = (m.lagMs / 1000).toFixed(1);
  return [`spoken ${s} s behind${m.speed > 1 ? ` · ${m.speed.toFixed(2)}×` : ""}`,
    m.lagMs < 2500 ? "ok" : m.lagMs < 6000 ? "warn" : "bad"];
}
