// The page's caption rules (web/src/segments.js): one mapping of every caption payload, segments
// joining their utterance's block in part order, live words giving way to committed ones.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { asSegment, blockAfter, captionOf, gap, heard, joinBlock, liveLines, newBlock, refresh, shown,
  translatedLive } from "../src/segments.js";

const ME = { id: "me", language: "en" };
const NOW = 1_000_000;

describe("captionOf", () => {
  const base = { utteranceId: "u1", utteranceKey: "k1", part: 2, speakerName: "Bea", sourceLang: "es",
    originalText: "Hola", targetLang: "en" };

  test("a live translation: the receipt is its time, latency from the end of speech", () => {
    const c = captionOf({ ...base, translatedText: "Hello", fromUserId: "bea",
      timings: { speechEnd: NOW - 1200, received: NOW - 1000 } }, ME, NOW);
    assert.deepEqual(c, { id: "u1", key: "k1", part: 2, speakerId: "bea", speakerName: "Bea", sourceLang: "es",
      original: "Hola", targetLang: "en", translated: "Hello", at: NOW - 1000, received: NOW - 1000,
      latency: 1200, mine: false });
  });

  test("solo: no fromUserId, the speaker is you; latency from receipt without a speech end", () => {
    const c = captionOf({ ...base, translatedText: "Hello", timings: { received: NOW - 300 } }, ME, NOW);
    assert.equal(c.speakerId, "me");
    assert.equal(c.mine, true);
    assert.equal(c.latency, 300);
  });

  test("a history item: speakerId and receivedAt, no latency, an untranslated one is null", () => {
    const c = captionOf({ ...base, translatedText: null, fromUserId: "bea", speakerId: "bea", receivedAt: 5000 }, ME, NOW);
    assert.equal(c.at, 5000);
    assert.equal(c.received, 5000);
    assert.equal(c.latency, null);
    assert.equal(c.translated, null);
    assert.equal(c.speakerId, "bea");
    assert.equal("failed" in c, false);
  });

  test("recognized-speech: your own words, in your language, at their receipt", () => {
    const c = captionOf({ id: "m", utteranceId: "u9", utteranceKey: "k9", part: 0, text: "Good morning",
      sourceLang: "en", speakerName: "Ann", receivedAt: 7000, duplicate: false }, ME, NOW);
    assert.deepEqual(c, { id: "u9", key: "k9", part: 0, speakerId: "me", speakerName: "Ann", sourceLang: "en",
      original: "Good morning", targetLang: "en", translated: null, at: 7000, received: 7000, latency: null, mine: true });
  });

  test("translation-failed: the original stands, with the reason, timed when it came", () => {
    const c = captionOf({ ...base, fromUserId: "bea", reason: "no engine" }, ME, NOW);
    assert.equal(c.failed, "no engine");
    assert.equal(c.translated, null);
    assert.equal(c.at, NOW);
    assert.deepEqual(shown(asSegment(c)), ["Hola", "es"]);
  });
});

test("shown: the translation in its language, else the original in its own", () => {
  assert.deepEqual(shown({ original: "Hola", sourceLang: "es", translated: "Hello", targetLang: "en" }), ["Hello", "en"]);
  assert.deepEqual(shown({ original: "Hola", sourceLang: "es", translated: null, targetLang: "en" }), ["Hola", "es"]);
  assert.deepEqual(shown({ original: "Hola", sourceLang: "es", translated: "x", targetLang: "en", failed: "r" }), ["Hola", "es"]);
});

test("asSegment: final, keyed by its id when it has no key, part a whole number from 0", () => {
  assert.deepEqual(asSegment({ id: "t1", part: undefined }), { id: "t1", key: "t1", part: 0, final: true });
  assert.equal(asSegment({ id: "t1", key: "k", part: -1 }).part, 0);
  assert.equal(asSegment({ id: "t1", key: "k", part: 1.5 }).part, 0);
  assert.equal(asSegment({ id: "t1", key: "k", part: 3 }).part, 3);
});

test("refresh: a repeat updates the segment, never clears a field it leaves out", () => {
  const had = { id: "u1", translated: "Hello", latency: 900, original: "Hola" };
  refresh(had, { id: "u1", translated: "Hello!", latency: null, original: undefined });
  assert.deepEqual(had, { id: "u1", translated: "Hello!", latency: 900, original: "Hola" });
});

describe("a block of segments", () => {
  const seg = (part, at) => asSegment({ id: `u${part}`, key: "k", part, at, speakerId: "bea", speakerName: "Bea" });

  test("segments are kept in part order whatever order they arrive in, each part once", () => {
    const b = newBlock("bea", "k");
    assert.equal(joinBlock(b, seg(2, 300)), true);
    assert.equal(joinBlock(b, seg(0, 100)), true);
    assert.equal(joinBlock(b, seg(1, 200)), true);
    assert.equal(joinBlock(b, { ...seg(1, 250), id: "other" }), false); // that part is shown already
    assert.deepEqual(b.parts.map((c) => c.id), ["u0", "u1", "u2"]);
    assert.equal(b.top, 2);
    assert.equal(b.at, 100); // it began with its earliest part
    assert.equal(b.speakerName, "Bea");
    assert.equal(b.parts[0].block, b);
  });

  test("the live words give way to the segment they became, not to an earlier one", () => {
    const b = newBlock("bea", "k");
    joinBlock(b, seg(0, 100));
    b.src = heard(b, { part: 2, text: " más palabras ", sourceLang: "es" });
    assert.deepEqual(b.src, { part: 2, text: "más palabras", lang: "es", sourceLang: "es" });
    b.tr = translatedLive(b, { part: 2, text: "more words" }, "en");
    assert.deepEqual(b.tr, { part: 2, text: "more words", lang: "en" });
    joinBlock(b, seg(1, 200)); // an earlier segment: the live words stay
    assert.equal(b.src.part, 2);
    assert.equal(b.tr.part, 2);
    joinBlock(b, seg(2, 300)); // the segment they became: gone
    assert.equal(b.src, null);
    assert.equal(b.tr, null);
  });

  test("an interim of a committed part, or older than the words shown, changes nothing", () => {
    const b = newBlock("bea", "k");
    joinBlock(b, seg(0, 100));
    assert.equal(heard(b, { part: 0, text: "late words" }), null);
    b.src = heard(b, { part: 2, text: "newer" });
    assert.equal(heard(b, { part: 1, text: "older" }), null);
    assert.equal(heard(b, { part: 2, text: "   " }), "drop"); // nothing left uncommitted
    assert.equal(heard(null, { part: 0, text: "" }), "drop");
    assert.deepEqual(heard(null, { text: "first words", sourceLang: "es" }),
      { part: 0, text: "first words", lang: "es", sourceLang: "es" });
  });

  test("a live translation only for the words shown, never a committed part", () => {
    const b = newBlock("bea", "k");
    assert.equal(translatedLive(b, { part: 0, text: "x" }, "en"), null); // no words shown
    b.src = heard(b, { part: 1, text: "palabras" });
    assert.equal(translatedLive(b, { part: 0, text: "x" }, "en"), null);
    assert.equal(translatedLive(b, { part: 1, text: " " }, "en"), null);
    assert.equal(translatedLive(b, { part: 1, text: "words", targetLang: "fr" }, "en").lang, "fr");
    joinBlock(b, seg(1, 100));
    b.src = { part: 1, text: "again", lang: "es" };
    assert.equal(translatedLive(b, { part: 1, text: "words" }, "en"), null); // part 1 is committed
  });
});

describe("liveLines", () => {
  const live = (speakerId, src, tr) => ({ ...newBlock(speakerId, "k"), src, tr });
  const src = { part: 1, text: "hola a todos", lang: "es", sourceLang: "es" };
  const tr = { part: 1, text: "hello everyone", lang: "en" };

  test("nothing live: no line", () => {
    assert.deepEqual(liveLines(live("bea", null, tr), ME, new Set()), { main: null, orig: null });
  });
  test("your own words, and words in your language, as heard", () => {
    assert.deepEqual(liveLines(live("me", src, tr), ME, new Set()), { main: src, orig: null });
    assert.deepEqual(liveLines(live("bea", src, tr), { id: "me", language: "es" }, new Set()), { main: src, orig: null });
  });
  test("someone else's: the translation, with the words heard as the original", () => {
    assert.deepEqual(liveLines(live("bea", src, tr), ME, new Set()), { main: tr, orig: src });
    // a translation of earlier words does not stand for the new ones
    assert.deepEqual(liveLines(live("bea", src, { ...tr, part: 0 }), ME, new Set()), { main: src, orig: null });
    assert.deepEqual(liveLines(live("bea", src, null), ME, new Set(["bea"])),
      { main: { text: "…", lang: "en", part: 1 }, orig: src });
  });
});

test("blockAfter: the first shown block of segments that began later", () => {
  const mk = (id, at, parts = 1, el = {}) => ({ id, at, parts: Array(parts).fill({}), el });
  const a = mk("a", 100), b = mk("b", 300), c = mk("c", 200), live = mk("live", 150, 0), hidden = mk("h", 120, 1, null);
  assert.equal(blockAfter([a, b, c, live, hidden], a), c);
  assert.equal(blockAfter([a, b, c], c), b);
  assert.equal(blockAfter([a, b, c], b), null);
});

test("gap: no space between the segments of languages written without them", () => {
  for (const lang of ["zh", "zh-Hans", "ja", "th", "lo", "km", "my"]) assert.equal(gap(lang), "", lang);
  for (const lang of ["en", "es", "ko", "", undefined, "mya"]) assert.equal(gap(lang), " ", String(lang));
});
