// The languages as the sign-in form and settings show them (web/src/languages.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { browserLanguage, languageName, languageNote, soloDefault, soloTargets } from "../src/languages.js";

const languages = [
  { code: "en", name: "English", partner: "es", hearing: "good", hearingNote: "Whisper", voice: "good", voiceNote: "Piper" },
  { code: "es", name: "Spanish", partner: "en", hearing: "good", hearingNote: "Whisper", voice: "fair", voiceNote: "eSpeak" },
  { code: "ca", name: "Catalan", partner: "es", hearing: "fair", hearingNote: "Whisper", voice: "none", voiceNote: "no voice" },
];
const local = { en: { es: { quality: "good", via: [] }, ca: { quality: "fair", via: ["es"] } } };

test("languageName: the name, or the code when unknown", () => {
  assert.equal(languageName(languages, "es"), "Spanish");
  assert.equal(languageName(languages, "xx"), "xx");
});

test("browserLanguage: the browser's if offered, else English", () => {
  assert.equal(browserLanguage(languages, "es-MX"), "es");
  assert.equal(browserLanguage(languages, "de-DE"), "en");
  assert.equal(browserLanguage(languages, undefined), "en");
});

test("languageNote: recognition, voice and local reach", () => {
  assert.equal(languageNote(languages[0], local), "Local speech recognition: good (Whisper). Local voice: good (Piper). " +
    "Translated locally into 2 other languages.");
  assert.match(languageNote(languages[2], local), /No local translation from it: a premium engine is needed\.$/);
});

test("soloTargets: every other language, with the local route's quality and pivots", () => {
  assert.deepEqual(soloTargets(languages, local, "en"), [
    { code: "es", text: "Spanish (es) — good", quality: "good" },
    { code: "ca", text: "Catalan (ca) — fair, via Spanish", quality: "fair" },
  ]);
  assert.deepEqual(soloTargets(languages, local, "ca").map((t) => [t.code, t.quality, t.text]),
    [["en", "none", "English (en) — no local translation"], ["es", "none", "Spanish (es) — no local translation"]]);
});

test("soloDefault: the saved target unless it is your language, else your language's partner", () => {
  assert.equal(soloDefault(languages, "en", "ca"), "ca");
  assert.equal(soloDefault(languages, "en", "en"), "es");
  assert.equal(soloDefault(languages, "ca", undefined), "es");
  assert.equal(soloDefault(languages, "xx", undefined), "en");
});
