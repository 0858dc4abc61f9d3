// The order spoken translations play in (web/src/speech-queue.js), and the mixer's gain (voice.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { TTS_WAIT_MS, audioCame, dueHead, utteranceOf } from "../src/speech-queue.js";
import { originalsGain } from "../src/voice.js";

test("utteranceOf: a tts-audio message id is the utterance's id and a language", () => {
  assert.equal(utteranceOf("u-1:es"), "u-1");
  assert.equal(utteranceOf(42), "42");
});

test("audio plays in the order things were said, whatever order it comes in", () => {
  const q = [{ id: "a", at: 100, since: 0, url: null }, { id: "b", at: 200, since: 0, url: null }];
  audioCame(q, { id: "b", at: 200, url: "/b", now: 10 }); // fills the item waiting for it
  audioCame(q, { id: "c", at: 50, url: "/c", now: 10 }); // said earliest: first
  assert.deepEqual(q.map((i) => [i.id, i.url]), [["c", "/c"], ["a", null], ["b", "/b"]]);
  assert.equal(q[0].since, 10);
  assert.equal(q.length, 3);
});

test("a late audio is waited for, then given up so it holds nothing back", () => {
  const q = [{ id: "a", at: 1, since: 1000, url: null }, { id: "b", at: 2, since: 1000, url: null }, { id: "c", at: 3, since: 1000, url: "/c" }];
  assert.equal(dueHead(q, 1000 + TTS_WAIT_MS).id, "a"); // still within the wait: the head waits
  assert.equal(q.length, 3);
  assert.equal(dueHead(q, 1001 + TTS_WAIT_MS).id, "c");
  assert.deepEqual(q.map((i) => i.id), ["c"]);
  assert.equal(dueHead([], 0), null);
});

test("originalsGain: full, ducked while a translation plays, muted unless they speak your language", () => {
  assert.equal(originalsGain({ playing: false, duck: 0.25, mute: false }), 1);
  assert.equal(originalsGain({ playing: true, duck: 0.25, mute: false }), 0.25);
  assert.equal(originalsGain({ playing: true, duck: 7, mute: false }), 1);
  assert.equal(originalsGain({ playing: false, duck: 0.25, mute: true }), 0);
  assert.equal(originalsGain({ playing: true, duck: 0.25, mute: true }, true), 0.25);
});
