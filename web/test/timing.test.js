// The page's throttles, retries and latency display (web/src/timing.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { historySince, keepLatency, lagLook, latencyLook, nextWait, retryable, usageWait } from "../src/timing.js";

test("usageWait: usage is read at most every 30 s", () => {
  assert.equal(usageWait(10_000, 15_000), 25_000);
  assert.equal(usageWait(10_000, 50_000), 0);
  assert.equal(usageWait(0, 1_000_000), 0);
});

test("retries: 'not yet' errors and no answer are retried, refusals are not; waits double to 5 s", () => {
  for (const code of ["queue_unavailable", "internal", "busy", "rate_limited", undefined]) assert.equal(retryable({ code }), true, code);
  for (const code of ["forbidden", "invalid", "not_in_room"]) assert.equal(retryable({ code }), false, code);
  const waits = [500];
  while (waits.length < 6) waits.push(nextWait(waits[waits.length - 1]));
  assert.deepEqual(waits, [500, 1000, 2000, 4000, 5000, 5000]);
});

test("historySince: a minute before the newest caption, or before the loss", () => {
  assert.equal(historySince(200_000), 140_000);
  assert.equal(historySince(200_000, 100_000), 40_000);
  assert.equal(historySince(200_000, 300_000), 140_000);
  assert.equal(historySince(30_000), 0);
  assert.equal(historySince(0), 0);
});

test("keepLatency: the last ten plausible latencies", () => {
  assert.equal(keepLatency([1], null), null);
  assert.equal(keepLatency([1], -5), null);
  assert.equal(keepLatency([1], 60_000), null);
  const ten = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(keepLatency(ten, 59_999), [1, 2, 3, 4, 5, 6, 7, 8, 9, 59_999]);
  assert.deepEqual(ten.length, 10); // not changed in place
});

test("latencyLook: the median, ok under 1.5 s, warn under 3 s", () => {
  assert.deepEqual(latencyLook([4000, 900, 1000]), ["latency 1.0 s", "ok"]);
  assert.deepEqual(latencyLook([1500, 100, 2000, 9000]), ["latency 2.0 s", "warn"]);
  assert.deepEqual(latencyLook([3000]), ["latency 3.0 s", "bad"]);
});

test("lagLook: how far behind, and the catch-up speed only when faster", () => {
  assert.deepEqual(lagLook({ lagMs: 1234, speed: 1 }), ["spoken 1.2 s behind", "ok"]);
  assert.deepEqual(lagLook({ lagMs: 4000, speed: 1.25 }), ["spoken 4.0 s behind · 1.25×", "warn"]);
  assert.deepEqual(lagLook({ lagMs: 6000, speed: 1.5 }), ["spoken 6.0 s behind · 1.50×", "bad"]);
});
