// Engine choices, glossary terms and premium usage as the page shows them (web/src/premium.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { GLOSSARY_MAX_CHARS, GLOSSARY_MAX_TERMS, chosenEngine, engineText, parseTerms, usageLines } from "../src/premium.js";

test("engineText: the label, premium marked, unavailable ones with why", () => {
  assert.equal(engineText({ name: "local", label: "Local" }), "Local");
  assert.equal(engineText({ name: "grok", label: "xAI Grok", premium: true, available: false, reason: "no XAI_API_KEY configured" }),
    "xAI Grok ★ premium — unavailable: no XAI_API_KEY configured");
  assert.equal(engineText({ name: "deepl", available: false }), "deepl — unavailable: not configured");
});

test("chosenEngine: the preference if listed, else the default, else the first", () => {
  const list = [{ name: "local" }, { name: "deepl" }];
  assert.equal(chosenEngine(list, "deepl", "local"), "deepl");
  assert.equal(chosenEngine(list, "gone", "local"), "local");
  assert.equal(chosenEngine(list, null, "gone"), "local");
  assert.equal(chosenEngine([], "x", "y"), "");
});

test("parseTerms: one a line, trimmed, blank lines and repeats dropped", () => {
  assert.deepEqual(parseTerms("  Kubernetes \n\nACME\nKubernetes\n"), { terms: ["Kubernetes", "ACME"] });
});

test("parseTerms: a term too long or too many terms is refused, saying which", () => {
  const long = "x".repeat(GLOSSARY_MAX_CHARS + 1);
  assert.match(parseTerms(`ok\n${long}`).error, /^"x{20}…" is longer than 50 characters\.$/);
  assert.deepEqual(parseTerms("y".repeat(GLOSSARY_MAX_CHARS)).terms, ["y".repeat(GLOSSARY_MAX_CHARS)]);
  const many = Array.from({ length: GLOSSARY_MAX_TERMS + 1 }, (_, i) => `t${i}`).join("\n");
  assert.equal(parseTerms(many).error, "At most 100 terms (you have 101).");
});

test("usageLines: a line per provider, with the day's budget", () => {
  const lines = usageLines({
    totals: { grok: { audio_seconds: 12.345, characters: 0 }, deepl: { characters: 420, tokens: 7 }, idle: {} },
    budget: { grok: { audio_minutes: { used: 0.2049, limit: 30 } } },
  }, (name) => name.toUpperCase());
  assert.deepEqual(lines, ["GROK: 12.3 s of speech · 0.2 of 30 audio minutes today",
    "DEEPL: 420 characters · 7 tokens", "IDLE: nothing yet"]);
  assert.deepEqual(usageLines({}, String), []);
});
