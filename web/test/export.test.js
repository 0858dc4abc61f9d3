// Transcript export (web/src/export.js): one cue per segment in the order things were said,
// bilingual lines, SRT/WebVTT timestamps, and text that cannot break a cue.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cues, toJSON, toSRT, toVTT } from "../src/export.js";

const T = 1_700_000_000_000;
// Ann's utterance k1 in two segments, the second received first; then Bea's line, failed, an hour on.
const captions = [
  { id: "u2", key: "k1", part: 1, final: true, speakerId: "ann", speakerName: "Ann", sourceLang: "es", targetLang: "en",
    original: "Qué tal", translated: "How are you", at: T - 1000 },
  { id: "u1", key: "k1", part: 0, final: true, speakerId: "ann", speakerName: "Ann", sourceLang: "es", targetLang: "en",
    original: "Hola", translated: "Hello there", at: T },
  { id: "u3", key: "u3", part: 0, final: true, speakerId: "bea", speakerName: "Bea", sourceLang: "en", targetLang: "fr",
    original: "Sí\nno --> yes", translated: null, at: T + 3723004 },
  { id: "live", key: "k2", part: 0, final: false, speakerId: "bea", speakerName: "Bea", original: "not final", at: T },
];

test("cues: final segments only, an utterance's in part order, never before an earlier part", () => {
  const got = cues(captions);
  assert.deepEqual(got.map((c) => c.id), ["u1", "u2", "u3"]);
  // u2 was received before u1 but is said after it: it starts with it, and u1 ends when it starts
  // (at least half a second); the others last their reading time (400 ms a word, 1.5 s at least)
  assert.deepEqual(got.map((c) => [c.start, c.end]), [[0, 500], [0, 1500], [3723004, 3724604]]);
  assert.deepEqual(cues([]), []);
});

test("SRT: numbered cues, comma milliseconds, the translation then the original in its language", () => {
  assert.equal(toSRT(captions), [
    "1", "00:00:00,000 --> 00:00:00,500", "Ann: Hello there", "(es) Hola", "",
    "2", "00:00:00,000 --> 00:00:01,500", "Ann: How are you", "(es) Qué tal", "",
    "3", "01:02:03,004 --> 01:02:04,604", "Bea: Sí no → yes", "",
  ].join("\n"));
});

test("WebVTT: the header, cues named by utterance id, dot milliseconds", () => {
  const vtt = toVTT(captions);
  assert.ok(vtt.startsWith("WEBVTT\n\nu1\n00:00:00.000 --> 00:00:00.500\nAnn: Hello there\n(es) Hola\n\nu2\n"), vtt);
  assert.ok(vtt.endsWith("u3\n01:02:03.004 --> 01:02:04.604\nBea: Sí no → yes\n"), vtt);
});

test("a line break or an arrow in the text never starts a cue of its own", () => {
  const evil = [{ id: "x", key: "x", part: 0, final: true, speakerName: "M\r\nallory", sourceLang: "en",
    original: "a\u2028b --> 99:00:00,000", translated: "c\n\nd", at: T }];
  const body = toSRT(evil).split("\n");
  assert.deepEqual(body, ["1", "00:00:00,000 --> 00:00:01,500", "M allory: c d", "(en) a b → 99:00:00,000", ""]);
});

test("JSON: the contract's field names, in cue order, with the room", () => {
  const data = JSON.parse(toJSON(captions, "ABC123"));
  assert.equal(data.room, "ABC123");
  assert.ok(!Number.isNaN(Date.parse(data.exportedAt)));
  assert.deepEqual(data.captions.map((c) => [c.utteranceId, c.utteranceKey, c.part, c.originalText, c.translatedText]),
    [["u1", "k1", 0, "Hola", "Hello there"], ["u2", "k1", 1, "Qué tal", "How are you"], ["u3", "u3", 0, "Sí\nno --> yes", null]]);
  assert.deepEqual(Object.keys(data.captions[0]), ["utteranceId", "utteranceKey", "part", "speakerId", "speakerName",
    "sourceLang", "originalText", "targetLang", "translatedText", "at", "startMs", "endMs"]);
  assert.equal(data.captions[2].at, new Date(T + 3723004).toISOString());
  assert.equal(data.captions[2].startMs, 3723004);
});
