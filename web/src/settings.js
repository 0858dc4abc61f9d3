// Settings: the engines of each kind, the voice, reading translations aloud, solo targets; each
// change saved to your preferences at once.
import { $, showError } from "./dom.js";
import { soloDefault, soloTargets } from "./languages.js";
import { api } from "./net.js";
import { chosenEngine, engineText } from "./premium.js";
import { S, params } from "./state.js";

// What this server offers beyond text (voice rooms) and its notes on engines (no sign-in needed).
export async function loadFeatures() {
  try { S.features = await api("/api/features"); } catch (e) { S.features = {}; }
}

// The engines of each kind, as GET /api/engines lists them (no sign-in needed). Should that fail,
// what /api/languages says is enough to keep the page usable with the local engines.
export async function loadEngines() {
  try {
    const res = await fetch("/api/engines");
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    S.engineList = await res.json();
  } catch (e) { S.engineList = null; }
}

function engines() { return S.engineList || legacyEngines(); }

function legacyEngines() {
  const item = (name) => ({ name, label: name, premium: false, available: true, reason: "" });
  return { stt: [item("local")], translation: (S.engines || ["local"]).map((n) => item(n)),
    tts: ["local", "espeak"].map((n) => item(n)), default: { stt: "local", translation: "local", tts: "local" } };
}

export function engineLabel(name) {
  const { stt = [], translation = [], tts = [] } = engines();
  const all = [...stt, ...translation, ...tts];
  const e = all.find((x) => x.name === name);
  return e ? e.label : name;
}

// Unavailable engines are listed, disabled, with why; premium ones are marked.
function fillEngines(id, kind, preferred) {
  const list = engines()[kind] || [];
  const sel = $(id); sel.innerHTML = "";
  for (const e of list) {
    const opt = new Option(engineText(e), e.name);
    opt.disabled = e.available === false;
    opt.dataset.premium = String(!!e.premium);
    if (e.reason) opt.title = e.reason;
    sel.add(opt);
  }
  sel.value = chosenEngine(list, preferred, (engines().default || {})[kind]);
}

export function fillSettings() {
  fillEngines("stt-engine", "stt", S.prefs.sttEngine);
  fillEngines("translation-engine", "translation", S.prefs.translationEngine);
  fillEngines("tts-engine", "tts", S.prefs.ttsEngine);
  const notes = (S.features.notes && S.features.notes.translation) || {};
  $("engine-note").textContent = notes.local || "";
  $("tts").checked = !!S.prefs.ttsEnabled;
  fillVoices();
  fillSoloTargets();
  $("audio-path").value = params.get("audio") || "auto";
}

// Solo targets from your language (or, before you sign in, the one chosen in the form).
export function fillSoloTargets() {
  const own = S.user ? S.user.language : $("language").value;
  const sel = $("solo-target"); sel.innerHTML = "";
  for (const t of soloTargets(S.languages, S.local, own)) {
    const opt = new Option(t.text, t.code);
    opt.dataset.quality = t.quality;
    sel.add(opt);
  }
  sel.value = soloDefault(S.languages, own, S.prefs && S.prefs.soloTargetLang);
}

// The voices the chosen speech engine has for your language. "Default voice" is always there (and
// alone if the list cannot be had); a saved voice the engine lacks shows as the default.
let voicesAsked = 0;
export async function fillVoices() {
  const ask = ++voicesAsked;
  const sel = $("voice");
  const engine = $("tts-engine").value;
  let voices = [];
  if (engine && S.user) {
    try {
      const q = new URLSearchParams({ engine, language: S.user.language });
      voices = (await api(`/api/tts/voices?${q}`)).voices || [];
    } catch (e) { voices = []; }
  }
  if (ask !== voicesAsked) return; // a newer fill is under way
  sel.innerHTML = "";
  sel.add(new Option("Default voice", ""));
  for (const v of voices) sel.add(new Option(v.name || v.id, v.id));
  sel.value = voices.some((v) => v.id === S.prefs.voice) ? S.prefs.voice : "";
}

export async function savePref(body) {
  try { const out = await api("/api/me", { method: "PATCH", body }); S.prefs = out.preferences; return true; }
  catch (e) { showError(e.message); fillSettings(); return false; }
}
