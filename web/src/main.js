// Live Translator browser client. Bundled at set-up by esbuild (with socket.io-client and
// livekit-client from npm) into app/static/vendor/app.bundle.js; nothing is fetched from a CDN.
import { io } from "socket.io-client";
import { ParticipantKind, Room, RoomEvent, Track } from "livekit-client";
import { toJSON, toSRT, toVTT } from "./export.js";
import { chosenEngine, engineText, parseTerms, usageLines } from "./premium.js";
import { Mixer } from "./voice.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const S = {
  token: localStorage.getItem("lt.token"), user: null, prefs: {}, languages: [], local: {}, features: {},
  engineList: null, glossary: null, usage: { at: 0, timer: 0 },
  socket: null, room: null, participants: new Map(), captions: new Map(), blocks: new Map(),
  liveKeys: new Map(), liveTranslated: new Set(),
  watermark: 0, latencies: [], mic: null, tts: { queue: [], seen: new Set(), playing: false },
};
window.__lt = S; // for tests and debugging: the state, never sent anywhere

// ---- small helpers ---------------------------------------------------------------------------
let errorTimer = 0;
function showError(message) {
  const el = $("error");
  el.textContent = message; el.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { el.hidden = true; }, 10000);
}
// Something worth knowing that is not an error (e.g. recognition moved to another engine).
let noticeTimer = 0;
function showNotice(message, code = "") {
  const el = $("notice");
  el.textContent = message; el.dataset.code = code; el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 6000);
}
function pill(el, text, kind) { el.textContent = text; el.className = "pill" + (kind ? " " + kind : ""); }
function show(section) { for (const id of ["signin", "lobby", "room"]) $(id).hidden = id !== section; }
const langName = (code) => (S.languages.find((l) => l.code === code) || { name: code }).name;

async function api(path, { method = "GET", body } = {}) {
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

function call(event, payload) {
  return new Promise((resolve, reject) => {
    S.socket.timeout(10000).emit(event, payload, (err, ack) => {
      if (err) reject(new Error("the server did not answer; check your connection"));
      else if (ack && ack.ok === false) reject(Object.assign(new Error(ack.error.message), { code: ack.error.code }));
      else resolve(ack);
    });
  });
}

// ---- sign in, lobby --------------------------------------------------------------------------
async function loadLanguages() {
  const { languages, engines, local } = await api("/api/languages");
  S.languages = languages; S.engines = engines; S.local = local || {};
  const sel = $("language"); sel.innerHTML = "";
  for (const l of languages) sel.add(new Option(`${l.name} (${l.code})`, l.code));
  const own = (navigator.language || "en").slice(0, 2);
  sel.value = languages.some((l) => l.code === own) ? own : "en";
  describeLanguage();
  fillSoloTargets();
}

// How well the local engines serve the chosen language, said before anyone commits to it.
function describeLanguage() {
  const l = S.languages.find((x) => x.code === $("language").value);
  if (!l) return;
  const reach = Object.keys(S.local[l.code] || {}).length;
  $("language-note").textContent = `Local speech recognition: ${l.hearing} (${l.hearingNote}). ` +
    `Local voice: ${l.voice} (${l.voiceNote}). ` +
    (reach ? `Translated locally into ${reach} other languages.` : "No local translation from it: a premium engine is needed.");
}

// Solo targets, each marked with the local translation's quality from your own language; the
// default is your language's usual partner, not the first entry.
function fillSoloTargets() {
  const own = S.user ? S.user.language : $("language").value;
  const routes = S.local[own] || {};
  const sel = $("solo-target"); sel.innerHTML = "";
  for (const l of S.languages) {
    if (l.code === own) continue;
    const r = routes[l.code];
    const how = r ? `${r.quality}${r.via.length ? `, via ${r.via.map(langName).join(", ")}` : ""}` : "no local translation";
    const opt = new Option(`${l.name} (${l.code}) — ${how}`, l.code);
    opt.dataset.quality = r ? r.quality : "none";
    sel.add(opt);
  }
  const mine = S.languages.find((l) => l.code === own);
  const chosen = S.prefs && S.prefs.soloTargetLang;
  sel.value = chosen && chosen !== own ? chosen : (mine ? mine.partner : "en");
}

async function signIn(ev) {
  ev.preventDefault();
  const body = { displayName: $("name").value.trim(), language: $("language").value };
  try {
    if (S.user) {
      const out = await api("/api/me", { method: "PATCH", body });
      S.user = out.user; S.prefs = out.preferences;
    } else {
      const out = await api("/api/session", { method: "POST", body });
      S.token = out.token; S.user = out.user; localStorage.setItem("lt.token", S.token);
      await loadMe();
    }
    await enterLobby();
  } catch (e) { showError(e.message); }
}

async function loadMe() {
  const out = await api("/api/me");
  S.user = out.user; S.prefs = out.preferences;
}

async function enterLobby() {
  fillSettings();
  $("whoami").textContent = `Signed in as ${S.user.displayName}, ${langName(S.user.language)}.`;
  connectSocket();
  const code = params.get("room");
  if (code && !S.room) { await joinRoom(code); return; }
  show(S.room ? "room" : "lobby");
  if (!S.room) $("create-room").focus();
}

// ---- the socket ------------------------------------------------------------------------------
function connectSocket() {
  if (S.socket) return;
  const socket = io({ auth: { token: S.token }, transports: ["websocket"], reconnectionDelayMax: 3000 });
  S.socket = socket;
  socket.on("connect", async () => {
    pill($("conn"), "online", "ok");
    if (S.room) { // a reconnect: rejoin, then fill in what was missed (each once)
      try { await call("join-room", S.room.code); await fillIn(); } catch (e) { showError(e.message); }
    }
  });
  socket.on("disconnect", () => pill($("conn"), "reconnecting…", "warn"));
  socket.on("connect_error", (err) => {
    pill($("conn"), "offline", "bad");
    if (err && err.data && err.data.code) { localStorage.removeItem("lt.token"); showError("Your session expired; sign in again."); }
  });
  socket.on("joined-room", onJoined);
  socket.on("user-joined", (p) => { S.participants.set(p.userId, p); renderPeople(); });
  socket.on("user-left", ({ userId }) => {
    S.participants.delete(userId); renderPeople();
    for (const b of [...S.blocks.values()]) if (b.speakerId === userId) dropLive(b); // they stopped talking
  });
  socket.on("recognized-speech", (r) => {
    addCaption({ id: r.utteranceId, key: r.utteranceKey, part: r.part, speakerId: S.user.id,
      speakerName: r.speakerName, sourceLang: r.sourceLang,
      original: r.text, targetLang: S.user.language, translated: null, at: r.receivedAt, received: r.receivedAt, mine: true });
  });
  socket.on("translated-message", (m) => onTranslated(m, false));
  socket.on("solo-translated", (m) => onTranslated(m, true));
  socket.on("translation-failed", (m) => {
    addCaption({ id: m.utteranceId, key: m.utteranceKey, part: m.part, speakerId: m.fromUserId || S.user.id,
      speakerName: m.speakerName, sourceLang: m.sourceLang, original: m.originalText, targetLang: m.targetLang,
      translated: null, at: Date.now(), failed: m.reason });
  });
  // The server lost messages it may have had for us (its message queue came back): read them.
  socket.on("resync", (r) => { if (S.room) fillIn(r && r.since); });
  socket.on("interim-transcript", (i) => showInterim(i));
  socket.on("interim-translation", (t) => showLiveTranslation(t));
  socket.on("tts-audio", (t) => queueSpeech(t));
  socket.on("voice-presence", ({ userId, inVoice }) => { const p = S.participants.get(userId); if (p) { p.inVoice = inVoice; renderPeople(); } });
  socket.on("glossary-updated", (g) => { if (S.room && g.roomId === S.room.id) renderGlossary({ ...S.glossary, terms: g.terms }); });
  socket.on("speech-notice", (n) => showNotice((n && n.message) || "Speech recognition changed engine.", (n && n.code) || ""));
  socket.on("speech-error", (msg) => { showError(typeof msg === "string" ? msg : "speech failed"); });
  socket.on("app-error", (e) => showError((e && e.message) || String(e)));
  setInterval(probeLatency, 5000);
}

async function createRoom() {
  try { const { code } = await api("/api/rooms", { method: "POST" }); await joinRoom(code); }
  catch (e) { showError(e.message); }
}

async function joinRoom(code) {
  try { await call("join-room", code.trim().toUpperCase()); }
  catch (e) { showError(e.message); show("lobby"); }
}

function onJoined({ roomId, code, participants }) {
  const fresh = !S.room || S.room.id !== roomId;
  S.room = { id: roomId, code };
  if (fresh) {
    for (const b of S.blocks.values()) clearTimeout(b.stale);
    S.captions.clear(); S.blocks.clear(); S.liveKeys.clear(); S.liveTranslated.clear();
    $("captions").innerHTML = ""; S.watermark = 0;
  }
  S.participants = new Map(participants.map((p) => [p.userId, p]));
  $("room-code-label").textContent = code;
  $("say-lang").textContent = langName(S.user.language);
  history.replaceState(null, "", `/?room=${code}`);
  renderPeople(); show("room"); $("say").focus();
  $("voice-room").hidden = !S.features.voice; // voice rooms need the server's LiveKit
  if (fresh) fillIn();
  loadGlossary(); // on every join: a reconnect may have missed an update
  loadUsage();
}

async function leaveRoom() {
  await stopMic();
  await leaveVoice();
  try { await call("leave-room"); } catch (e) { /* already out */ }
  S.room = null; S.glossary = null; history.replaceState(null, "", "/"); show("lobby");
  $("glossary").hidden = true; $("usage").hidden = true;
}

// ---- glossary --------------------------------------------------------------------------------
async function loadGlossary() {
  const roomId = S.room.id;
  try {
    const g = await api(`/api/rooms/${roomId}/glossary`);
    if (S.room && S.room.id === roomId) renderGlossary(g);
  } catch (e) {
    $("glossary").hidden = true;
    showError("Could not load the room's glossary: " + e.message);
  }
}

// The editor keeps what its owner is typing; it follows the saved list only while untouched
// (or, with `reset`, just after the owner saved).
function renderGlossary(g, reset = false) {
  const input = $("glossary-input");
  const untouched = reset || !S.glossary || input.value === S.glossary.terms.join("\n");
  S.glossary = { terms: g.terms || [], canEdit: !!g.canEdit };
  const ul = $("glossary-terms"); ul.innerHTML = "";
  for (const t of S.glossary.terms) {
    const li = document.createElement("li"); li.textContent = t; ul.append(li);
  }
  $("glossary-empty").hidden = S.glossary.terms.length > 0;
  $("glossary-form").hidden = !S.glossary.canEdit;
  if (S.glossary.canEdit && untouched) input.value = S.glossary.terms.join("\n");
  $("glossary").hidden = false;
}

async function saveGlossary(ev) {
  ev.preventDefault();
  const { terms, error } = parseTerms($("glossary-input").value);
  if (error) { showError(error); return; }
  const btn = $("glossary-save");
  btn.disabled = true;
  try {
    renderGlossary(await api(`/api/rooms/${S.room.id}/glossary`, { method: "PUT", body: { terms } }), true);
  } catch (e) { showError(e.message); } finally { btn.disabled = false; }
}

// ---- premium usage ---------------------------------------------------------------------------
// Checked on joining and, at most twice a minute, as captions arrive: the line shows up once the
// room has used a premium engine, and is read afresh each time it is opened.
async function loadUsage() {
  if (!S.room) return;
  const roomId = S.room.id;
  S.usage.at = Date.now();
  let u;
  try { u = await api(`/api/rooms/${roomId}/usage`); } catch (e) { $("usage").hidden = true; return; }
  if (!S.room || S.room.id !== roomId) return;
  const lines = usageLines(u, engineLabel);
  const ul = $("usage-list"); ul.innerHTML = "";
  for (const line of lines) { const li = document.createElement("li"); li.textContent = line; ul.append(li); }
  $("usage-day").textContent = u.day ? `Used in this room on ${u.day}.` : "";
  $("usage").hidden = lines.length === 0;
}

function usageSoon() {
  if (!S.room || S.usage.timer) return;
  const wait = Math.max(0, S.usage.at + 30000 - Date.now());
  S.usage.timer = setTimeout(() => { S.usage.timer = 0; loadUsage(); }, wait);
}

function renderPeople() {
  const ul = $("participants"); ul.innerHTML = "";
  for (const p of S.participants.values()) {
    const li = document.createElement("li");
    li.dataset.user = p.userId;
    if (p.speaking) li.classList.add("speaking");
    li.textContent = p.displayName + (p.userId === S.user.id ? " (you)" : "");
    const lang = document.createElement("span"); lang.className = "lang"; lang.textContent = p.language;
    li.append(lang);
    if (p.inVoice) li.append(" 🎙");
    if (p.speaking) li.setAttribute("aria-label", `${p.displayName}, speaking`);
    ul.append(li);
  }
}

function speaking(userId) {
  const p = S.participants.get(userId);
  if (!p) return;
  p.speaking = true; renderPeople();
  clearTimeout(p.speakTimer);
  p.speakTimer = setTimeout(() => { p.speaking = false; renderPeople(); }, 1500);
}

// ---- captions --------------------------------------------------------------------------------
// One caption block per utterance (speaker + utteranceKey). Recognition commits an utterance a
// clause or sentence at a time: each segment is a final of its own (its own utterance id, `part`
// 0, 1, 2 …) and joins its block, in part order whatever order the parts arrive in, each once.
// While the speaker talks, a live line follows the committed parts: the words not committed yet,
// translated into your language (`interim-translation`) or, in the speaker's language, as heard
// (`interim-transcript`); dimmed, never announced, and gone once the segment it becomes arrives.
// S.captions keeps each segment by utterance id (read aloud, playback, export); S.blocks the
// blocks by speaker and key.
const LIVE_STALE_MS = 15000; // a live line nothing updated or committed this long is dropped
const partNo = (p) => (Number.isInteger(p) && p >= 0 ? p : 0);
const blockId = (speakerId, key) => `${speakerId} ${key}`;
const gap = (lang) => (/^(zh|ja|th|lo|km|my)\b/.test(lang || "") ? "" : " "); // between segments

// A caption payload as the page keeps it: a live one (`translated-message`, `solo-translated`:
// timings, and no fromUserId when solo, where the speaker is you) or a history item (receivedAt,
// speakerId). Its time is the server's receipt: the server's order.
function captionOf(m) {
  const t = m.timings;
  const received = t ? t.received : m.receivedAt;
  const start = t && (t.speechEnd || t.received);
  const speakerId = m.fromUserId || m.speakerId || S.user.id;
  return { id: m.utteranceId, key: m.utteranceKey, part: m.part, speakerId,
    speakerName: m.speakerName, sourceLang: m.sourceLang, original: m.originalText, targetLang: m.targetLang,
    translated: m.translatedText, at: received || Date.now(), received,
    latency: start ? Date.now() - start : null, mine: speakerId === S.user.id };
}

function onTranslated(m, solo) {
  addCaption(captionOf(m));
  const c = S.captions.get(m.utteranceId);
  if (!solo && c && !S.tts.queue.some((q) => q.id === c.id) && !S.tts.seen.has(`${c.id}:${m.targetLang}`)) expectSpeech(c);
}

function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 40; }

function block(speakerId, key) {
  const id = blockId(speakerId, key);
  let b = S.blocks.get(id);
  if (!b) {
    b = { id, key, speakerId, speakerName: null, parts: [], top: -1, at: Infinity, src: null, tr: null, el: null };
    S.blocks.set(id, b);
  }
  return b;
}

// A segment (typed messages are one segment: part 0, key = their utterance id).
function addCaption(c) {
  const list = $("captions");
  const stick = nearBottom(list);
  c.final = true;
  c.key = String(c.key || c.id);
  c.part = partNo(c.part);
  const had = S.captions.get(c.id);
  if (had) { // the same segment again (a redelivery, or history after a reconnect): update, never add
    Object.assign(had, Object.fromEntries(Object.entries(c).filter(([, v]) => v !== null && v !== undefined)));
    if (had.block) syncBlock(had.block);
    return;
  }
  const b = block(c.speakerId, c.key);
  if (b.parts.some((o) => o.part === c.part)) return; // that segment is shown already
  S.captions.set(c.id, c);
  c.block = b;
  if (c.received) S.watermark = Math.max(S.watermark, c.received);
  if (c.latency != null && c.latency >= 0 && c.latency < 60000) {
    S.latencies.push(c.latency); S.latencies = S.latencies.slice(-10); renderLatency();
  }
  b.parts.push(c); b.parts.sort((x, y) => x.part - y.part);
  b.top = Math.max(b.top, c.part);
  if (c.speakerName) b.speakerName = c.speakerName;
  // Live words of this segment or an earlier one are in the captions now.
  if (b.src && b.src.part <= c.part) b.src = null;
  if (b.tr && b.tr.part <= c.part) b.tr = null;
  if (!b.src && !b.tr) clearTimeout(b.stale);
  // An interim without a key (an older server) is the speaker's words until any of theirs is final.
  const keyless = S.blocks.get(blockId(c.speakerId, ""));
  if (keyless && keyless !== b) dropLive(keyless);
  const at = b.at;
  b.at = Math.min(b.at, c.at);
  if (!b.el || b.el.classList.contains("interim")) placeBlock(b, renderBlock(b)); // its first segment
  else { // grows in place: only the new segment is announced
    syncBlock(b);
    if (b.at !== at) placeBlock(b, b.el);
  }
  usageSoon();
  if (stick) list.scrollTop = list.scrollHeight; else $("jump").hidden = false;
}

// Keep time order (history can arrive after newer live captions); blocks of live words only, last.
function placeBlock(b, li) {
  const list = $("captions");
  const old = b.el;
  if (old && old !== li) {
    const d = old.querySelector("details");
    if (d && d.open && li.querySelector("details")) li.querySelector("details").open = true;
    old.remove();
  }
  b.el = li;
  let before = null;
  if (b.parts.length) {
    const after = [...S.blocks.values()].filter((o) => o !== b && o.parts.length && o.el && o.at > b.at)
      .sort((x, y) => x.at - y.at)[0];
    before = after ? after.el : list.querySelector(":scope > li.interim");
  }
  if (li.parentNode === list && li.nextElementSibling === before) return; // where it belongs already
  list.insertBefore(li, before);
}

function renderBlock(b) {
  const li = document.createElement("li");
  li.dataset.key = b.key;
  const meta = document.createElement("div"); meta.className = "meta";
  const who = document.createElement("span"); who.className = "who";
  meta.append(who);
  const text = document.createElement("div"); text.className = "text";
  li.append(meta, text);
  if (!b.parts.length) { li.className = "interim"; li.setAttribute("aria-hidden", "true"); }
  else li.className = "final";
  syncBlock(b, li);
  return li;
}

const shown = (c) => (c.failed || !c.translated ? [c.original, c.sourceLang] : [c.translated, c.targetLang]);

// What the live line says: in the speaker's language for them and for listeners of it; otherwise
// the translation of those words, with the words as heard under "Original". Until the translation
// of new words comes, a speaker whose words have been translated live before shows "…".
function liveLines(b) {
  const src = b.src, tr = b.tr && src && b.tr.part === src.part ? b.tr : null;
  if (!src) return { main: null, orig: null };
  if (b.speakerId === S.user.id || src.lang === S.user.language) return { main: src, orig: null };
  if (tr) return { main: tr, orig: src };
  if (S.liveTranslated.has(b.speakerId)) {
    return { main: { text: "…", lang: S.user.language, part: src.part }, orig: src };
  }
  return { main: src, orig: null };
}

// Bring the block's element up to date, touching only what changed (the list is a live region).
function syncBlock(b, li = b.el) {
  if (!li) return;
  const parts = b.parts;
  const first = parts[0], last = parts[parts.length - 1];
  if (first) { li.dataset.id = first.id; li.dataset.parts = String(parts.length); }
  li.classList.toggle("mine", parts.some((c) => c.mine) || b.speakerId === S.user.id && !!first);
  li.classList.toggle("failed", parts.some((c) => c.failed));
  li.classList.toggle("unfinished", !!b.src); // the speaker is still saying it
  // meta: who, when it began, latency of its latest segment
  const meta = li.querySelector(".meta");
  const p = S.participants.get(b.speakerId);
  setText(meta.querySelector(".who"), b.speakerName || (p ? p.displayName : "…"));
  if (first) {
    let time = meta.querySelector("time");
    if (!time) { time = document.createElement("time"); meta.append(time); }
    const iso = new Date(b.at).toISOString();
    if (time.dateTime !== iso) { time.dateTime = iso; time.textContent = new Date(b.at).toLocaleTimeString(); }
    time.title = parts.length > 1 ? `${parts.length} parts, the last at ${new Date(last.at).toLocaleTimeString()}` : "";
    const withLat = parts.filter((c) => c.latency != null);
    const lat = withLat.length ? withLat[withLat.length - 1].latency : null;
    let el = meta.querySelector(".lat");
    if (lat == null) { if (el) el.remove(); } else {
      if (!el) {
        el = document.createElement("span"); el.className = "lat"; el.title = "From the end of speech to this caption";
        el.setAttribute("aria-hidden", "true"); // it changes as segments come: not worth announcing
        meta.append(el);
      }
      setText(el, `${(lat / 1000).toFixed(1)} s`);
    }
  }
  const live = liveLines(b);
  const text = li.querySelector(".text");
  text.lang = last ? shown(last)[1] : live.main ? live.main.lang : "";
  syncSegments(text, parts.map((c) => [c, ...shown(c)]), live.main);
  // The original, under a disclosure as for any translated caption.
  const wantOrig = parts.some((c) => !c.failed && c.translated && c.translated !== c.original) || !!live.orig;
  let d = li.querySelector(":scope > details");
  if (wantOrig && !d) {
    d = document.createElement("details");
    const s = document.createElement("summary");
    const o = document.createElement("div"); o.className = "orig";
    d.append(s, o); text.after(d);
  } else if (!wantOrig && d) { d.remove(); d = null; }
  if (d) {
    const lang = (first || live.orig).sourceLang || live.orig.lang;
    setText(d.querySelector("summary"), `Original (${langName(lang)})`);
    const o = d.querySelector(".orig"); o.lang = lang;
    syncSegments(o, parts.map((c) => [c, c.original, c.sourceLang]), live.orig);
  }
  const reasons = [...new Set(parts.filter((c) => c.failed).map((c) => c.failed))];
  let why = li.querySelector(":scope > .note");
  if (reasons.length) {
    if (!why) { why = document.createElement("div"); why.className = "note"; li.append(why); }
    setText(why, `Not translated: ${reasons.join("; ")}`);
  } else if (why) why.remove();
}

function setText(el, s) { if (el.textContent !== s) el.textContent = s; }

// The segments of a block, one element each in part order, then the live words (if any).
function syncSegments(box, rows, live) {
  const have = new Map([...box.querySelectorAll(":scope > .seg")].map((el) => [el.dataset.id, el]));
  let prev = null;
  for (const [c, s, lang] of rows) {
    let el = have.get(String(c.id));
    have.delete(String(c.id));
    if (!el) { el = document.createElement("span"); el.className = "seg"; el.dataset.id = c.id; }
    el.dataset.part = String(c.part);
    setText(el, s || "");
    if (el.lang !== lang) el.lang = lang;
    el.classList.toggle("failed", !!c.failed);
    if (prev ? prev.nextElementSibling !== el : box.firstElementChild !== el) {
      if (prev) prev.after(el); else box.prepend(el);
    }
    prev = el;
  }
  for (const el of have.values()) el.remove();
  let liveEl = box.querySelector(":scope > .live");
  if (live) {
    if (!liveEl) {
      liveEl = document.createElement("span"); liveEl.className = "live"; liveEl.setAttribute("aria-hidden", "true");
    }
    setText(liveEl, live.text);
    liveEl.dataset.part = String(live.part); // the segment these words will become
    if (liveEl.lang !== live.lang) liveEl.lang = live.lang || "";
    if (box.lastElementChild !== liveEl) box.append(liveEl);
  } else if (liveEl) liveEl.remove();
  spaceOut(box);
}

// A space between the pieces (none in languages written without them), touched only where wrong.
function spaceOut(box) {
  for (const n of [...box.childNodes]) {
    if (n.nodeType === Node.ELEMENT_NODE) continue;
    const prev = n.previousSibling, next = n.nextSibling;
    const right = n.nodeType === Node.TEXT_NODE && prev && prev.nodeType === Node.ELEMENT_NODE &&
      next && next.nodeType === Node.ELEMENT_NODE && n.data && n.data === gap(next.lang || box.lang);
    if (!right) n.remove();
  }
  for (const el of [...box.children].slice(1)) {
    const g = gap(el.lang || box.lang);
    if (g && el.previousSibling === el.previousElementSibling) el.before(g);
  }
}

// interim-transcript: the speaker's words after their committed segments; `part` is the number
// of the segment they will become. An empty one: nothing is left uncommitted.
function showInterim(i) {
  speaking(i.speakerId);
  const key = String(i.utteranceKey || "");
  const part = partNo(i.part);
  // The speaker moved on to another utterance: the words of the last one are committed.
  const prev = S.liveKeys.get(i.speakerId);
  if (prev !== undefined && prev !== key) { const o = S.blocks.get(blockId(i.speakerId, prev)); if (o) dropLive(o); }
  S.liveKeys.set(i.speakerId, key);
  const text = String(i.text || "").trim();
  let b = S.blocks.get(blockId(i.speakerId, key));
  if (b && part <= b.top) return; // words of a segment already shown
  if (!text) { if (b) dropLive(b); return; }
  if (!b) b = block(i.speakerId, key);
  if (b.src && part < b.src.part) return; // older than what is shown
  b.src = { part, text, lang: i.sourceLang, sourceLang: i.sourceLang };
  showLive(b);
}

// interim-translation: those words in your language; the latest part's only, never a committed one.
function showLiveTranslation(t) {
  const b = S.blocks.get(blockId(t.speakerId, String(t.utteranceKey || "")));
  const part = partNo(t.part);
  const text = String(t.text || "").trim();
  if (!b || !b.src || part !== b.src.part || part <= b.top || !text) return;
  S.liveTranslated.add(t.speakerId);
  b.tr = { part, text, lang: t.targetLang || S.user.language };
  speaking(t.speakerId);
  showLive(b);
}

function dropLive(b) {
  if (!b.src && !b.tr) return;
  b.src = null; b.tr = null;
  showLive(b);
}

function showLive(b) {
  const list = $("captions");
  const stick = nearBottom(list);
  clearTimeout(b.stale);
  if (b.src || b.tr) b.stale = setTimeout(() => dropLive(b), LIVE_STALE_MS);
  if (!b.parts.length) {
    if (!b.src && !b.tr) { if (b.el) b.el.remove(); S.blocks.delete(b.id); return; }
    if (!b.el) placeBlock(b, renderBlock(b)); else syncBlock(b);
  } else syncBlock(b);
  if (stick) list.scrollTop = list.scrollHeight;
}

// The element showing a segment (for the voice room's playback marks): its block, and itself.
function segmentEls(id) {
  const c = S.captions.get(String(id));
  const li = c && c.block && c.block.el;
  return li ? [li, li.querySelector(`.text > .seg[data-id="${CSS.escape(String(id))}"]`)] : [null, null];
}

async function fillIn(lostAt) {
  if (!S.room) return;
  // A minute of overlap: a message received earlier may have been delivered later; ids dedupe.
  let since = Math.max(0, Math.min(S.watermark, typeof lostAt === "number" ? lostAt : Infinity) - 60000);
  for (let page = 0; page < 20; page++) {
    let out;
    try { out = await api(`/api/rooms/${S.room.id}/messages?since=${since}`); }
    catch (e) { showError("Could not load earlier captions: " + e.message); return; }
    for (const m of out.messages) {
      addCaption(captionOf(m));
      since = Math.max(since, m.receivedAt);
    }
    if (!out.more) break;
  }
}

function renderLatency() {
  const xs = [...S.latencies].sort((a, b) => a - b);
  const med = xs[Math.floor(xs.length / 2)];
  pill($("latency"), `latency ${(med / 1000).toFixed(1)} s`, med < 1500 ? "ok" : med < 3000 ? "warn" : "bad");
}

async function probeLatency() {
  if (!S.socket || !S.socket.connected) return;
  const t0 = performance.now();
  try { await call("ping"); $("conn").title = `round trip ${Math.round(performance.now() - t0)} ms`; } catch (e) { /* shown by disconnect */ }
}

// ---- typing ----------------------------------------------------------------------------------
async function say(ev) {
  ev.preventDefault();
  const input = $("say");
  const text = input.value.trim();
  if (!text) return;
  const solo = $("solo").checked;
  const payload = { transcript: text, sourceLang: S.user.language, clientId: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()) };
  if (solo) Object.assign(payload, { soloMode: true, soloTargetLang: $("solo-target").value });
  else if (S.room) payload.roomId = S.room.id; // a resend after moving rooms is refused, not misplaced
  input.value = ""; // at once: the next message can be typed while this one is on its way
  try { await send("speech-transcript", payload); }
  catch (e) { showError(e.message); if (!input.value) input.value = text; }
}

// Errors that say "not yet" rather than "no": the same payload (same clientId, so never twice) is
// sent again, a little later each time, for up to two minutes.
const RETRYABLE = new Set(["queue_unavailable", "internal", "busy", "rate_limited"]);
async function send(event, payload) {
  const until = Date.now() + 120000;
  for (let wait = 500; ; wait = Math.min(wait * 2, 5000)) {
    try { const ack = await call(event, payload); if (S.socket.connected) pill($("conn"), "online", "ok"); return ack; }
    catch (e) {
      if ((e.code && !RETRYABLE.has(e.code)) || Date.now() + wait > until) throw e;
      pill($("conn"), "sending…", "warn");
      await new Promise((r) => setTimeout(r, wait));
      while (!S.socket.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    }
  }
}

// ---- microphone ------------------------------------------------------------------------------
// The microphone's AudioWorklet (PCM chunks of 40 ms and their level) is a file of its own, served
// from this origin: the page's Content-Security-Policy runs scripts from nowhere else.
const WORKLET_URL = "/static/pcm-chunker.js";

function micState(text, kind) { pill($("mic-state"), text, kind); }

function audioPath() {
  const forced = params.get("audio") || $("audio-path").value;
  if (forced === "socket") return "socket";
  if (forced === "livekit") return "livekit";
  return S.features.voice ? "livekit" : "socket";
}

async function toggleMic() {
  if (S.mic) { await stopMic(); return; }
  const btn = $("mic");
  btn.disabled = true; $("listen").disabled = true; // one voice-room change at a time
  micState("connecting…", "warn");
  try {
    if (audioPath() === "livekit") {
      try { await startLiveKit(); }
      catch (e) { showError(`Voice over LiveKit failed (${e.message}); using the direct audio path.`); await stopMic(); await leaveVoice(); await startSocketAudio(); }
    } else {
      await startSocketAudio();
    }
    micState("live", "ok");
    btn.textContent = "Stop microphone"; btn.setAttribute("aria-pressed", "true");
  } catch (e) {
    await stopMic();
    micState("error", "bad");
    showError(e.name === "NotAllowedError" ? "Microphone access was refused; allow it in the browser to speak." : e.message);
  } finally { btn.disabled = false; $("listen").disabled = false; }
}

function solo() { return $("solo").checked ? { soloMode: true, soloTargetLang: $("solo-target").value } : {}; }

async function startSocketAudio() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 } });
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule(WORKLET_URL);
  const src = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-chunker");
  S.mic = { kind: "socket", stream, ctx, node };
  await call("start-speech", { languageCode: S.user.language, sampleRateHertz: ctx.sampleRate, encoding: "LINEAR16", ...solo() });
  node.port.onmessage = ({ data }) => {
    $("level").value = Math.min(1, data.rms * 4);
    if (S.socket.connected) S.socket.emit("speech-data", data.pcm);
  };
  src.connect(node);
}

// ---- voice room (LiveKit) ------------------------------------------------------------------------
// One LiveKit session per page: listen-only (no microphone; a token that cannot publish) or with
// the microphone. You hear everyone else's microphone and, with "Read translations aloud" on, the
// agent's tts-<your language> track; the originals are lowered while a translation plays.
function duckSettings() {
  return { duck: Number($("duck").value) / 100, mute: $("mute-originals").checked };
}

async function joinVoice(listenOnly) {
  if (S.voice && (listenOnly || !S.voice.listenOnly)) return S.voice; // already in, able enough
  if (S.voice) await leaveVoice({ quiet: true });
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no answer from the server")), 15000);
    S.socket.once("voice-session-ready", (r) => { clearTimeout(t); resolve(r); });
  });
  await call("start-voice-session", { languageCode: S.user.language, listenOnly, ...(listenOnly ? {} : solo()) });
  const { liveKitUrl, liveKitToken } = await ready;
  const room = new Room({ audioCaptureDefaults: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  // heard: the names of the tracks this page has subscribed to (shown to tests, never sent)
  const voice = { room, listenOnly, mixer: new Mixer(duckSettings()), lines: [], lag: null, heard: [] };
  S.voice = voice;
  room.on(RoomEvent.TrackPublished, (pub, p) => considerTrack(pub, p));
  room.on(RoomEvent.TrackSubscribed, (track, pub, p) => {
    voice.heard.push(pub.trackName);
    // Someone who speaks your language has no translation: "Mute originals" leaves them audible.
    const kind = isAgent(p) ? "translation" : (p.attributes || {}).language === myLanguage(voice) ? "same" : "original";
    voice.mixer.add(pub.trackSid, track.mediaStreamTrack, kind);
  });
  // Your language changed (the server updates your attributes): the other language's track.
  room.on(RoomEvent.ParticipantAttributesChanged, (changed, p) => { if (p === room.localParticipant && "language" in changed) syncTranslationTrack(); });
  room.on(RoomEvent.TrackUnsubscribed, (track, pub) => voice.mixer.remove(pub.trackSid));
  room.on(RoomEvent.DataReceived, (payload, p, kind, topic) => { if (topic === "lt.tts" && p && isAgent(p)) onPlayback(voice, payload); });
  room.on(RoomEvent.Disconnected, () => { if (S.voice === voice) { voiceState("disconnected", "bad"); if (S.mic && S.mic.kind === "livekit") micState("disconnected", "bad"); } });
  room.on(RoomEvent.Reconnecting, () => voiceState("reconnecting…", "warn"));
  room.on(RoomEvent.Reconnected, () => voiceState(voice.listenOnly ? "listening" : "in voice", "ok"));
  await room.connect(liveKitUrl, liveKitToken, { autoSubscribe: false });
  for (const p of room.remoteParticipants.values()) for (const pub of p.trackPublications.values()) considerTrack(pub, p);
  voiceState(listenOnly ? "listening" : "in voice", "ok");
  $("listen").textContent = "Leave voice"; $("listen").setAttribute("aria-pressed", "true");
  return voice;
}

function isAgent(p) { return p.kind === ParticipantKind.AGENT || p.isAgent === true; }
function myLanguage(voice) { return (voice.room.localParticipant.attributes || {}).language || S.user.language; }

// Originals: every human microphone. Translation: the agent's track of your language only, and
// only while you want translations read aloud (the agent refuses you any other language's).
function considerTrack(pub, p) {
  if (pub.kind !== Track.Kind.Audio) return;
  if (isAgent(p)) {
    if (pub.trackName.startsWith("tts-")) pub.setSubscribed(pub.trackName === `tts-${myLanguage(S.voice)}` && $("tts").checked);
    return;
  }
  if (pub.source === Track.Source.Microphone) pub.setSubscribed(true);
}

function syncTranslationTrack() {
  if (!S.voice) return;
  for (const p of S.voice.room.remoteParticipants.values()) for (const pub of p.trackPublications.values()) considerTrack(pub, p);
}

// The agent says which line of your language plays now and how far behind the room it is.
function onPlayback(voice, payload) {
  let m;
  try { m = JSON.parse(new TextDecoder().decode(payload)); } catch (e) { return; }
  if (!m || typeof m !== "object" || typeof m.type !== "string") return;
  voice.lines.push(m);
  if (voice.lines.length > 500) voice.lines.shift();
  if (m.type === "playing" && Number.isFinite(m.lagMs) && Number.isFinite(m.speed)) {
    voice.lag = m.lagMs;
    const s = (m.lagMs / 1000).toFixed(1);
    pill($("voice-lag"), `spoken ${s} s behind${m.speed > 1 ? ` · ${m.speed.toFixed(2)}×` : ""}`,
      m.lagMs < 2500 ? "ok" : m.lagMs < 6000 ? "warn" : "bad");
    $("voice-lag").hidden = false;
    const [li] = segmentEls(m.utteranceId);
    if (li) { li.classList.add("speaking"); setTimeout(() => li.classList.remove("speaking"), m.durationMs || 2000); }
  } else if (m.type === "skipped" && Array.isArray(m.utteranceIds)) {
    for (const id of m.utteranceIds) {
      const [, seg] = segmentEls(id);
      if (seg) { seg.classList.add("unspoken"); seg.title = "Not read aloud: skipped to catch up with the room"; }
    }
  }
}

function voiceState(text, kind) { pill($("voice-state"), text, kind); }

async function leaveVoice({ quiet = false } = {}) {
  const voice = S.voice; S.voice = null;
  $("listen").textContent = "Listen in voice"; $("listen").setAttribute("aria-pressed", "false");
  voiceState("off"); $("voice-lag").hidden = true;
  if (!voice) return;
  await voice.room.disconnect().catch(() => {});
  await voice.mixer.close();
  if (!quiet) { try { await call("stop-voice-session"); } catch (e) { /* ended already */ } }
}

async function toggleListen() {
  const btn = $("listen");
  if (btn.disabled) return;
  btn.disabled = true; $("mic").disabled = true; // one voice-room change at a time
  try {
    if (S.voice) { if (S.mic && S.mic.kind === "livekit") await stopMic(); await leaveVoice(); }
    else { voiceState("connecting…", "warn"); await joinVoice(true); }
  } catch (e) { await leaveVoice(); showError(`Could not join the voice room: ${e.message}`); }
  finally { btn.disabled = false; $("mic").disabled = false; }
}

async function startLiveKit() {
  const voice = await joinVoice(false);
  S.mic = { kind: "livekit", room: voice.room };
  await voice.room.localParticipant.setMicrophoneEnabled(true);
  const pub = voice.room.localParticipant.getTrackPublication(Track.Source.Microphone);
  if (pub && pub.track) meter(new MediaStream([pub.track.mediaStreamTrack]));
}

function meter(stream) {
  const ctx = new AudioContext();
  const an = ctx.createAnalyser(); an.fftSize = 1024;
  ctx.createMediaStreamSource(stream).connect(an);
  const buf = new Float32Array(an.fftSize);
  S.mic.meterCtx = ctx;
  const tick = () => {
    if (!S.mic || S.mic.meterCtx !== ctx) return;
    an.getFloatTimeDomainData(buf);
    let sq = 0; for (const x of buf) sq += x * x;
    $("level").value = Math.min(1, Math.sqrt(sq / buf.length) * 4);
    requestAnimationFrame(tick);
  };
  tick();
}

async function stopMic() {
  const mic = S.mic; S.mic = null;
  $("mic").textContent = "Start microphone"; $("mic").setAttribute("aria-pressed", "false");
  $("level").value = 0; micState("off");
  if (!mic) return;
  if (mic.kind === "socket") {
    mic.node.port.onmessage = null;
    mic.stream.getTracks().forEach((t) => t.stop());
    await mic.ctx.close().catch(() => {});
    try { await call("stop-speech"); } catch (e) { /* the session may already be gone */ }
  } else {
    // The microphone goes off; you stay in the voice room, listening, until you leave it.
    if (mic.meterCtx) await mic.meterCtx.close().catch(() => {});
    await mic.room.localParticipant.setMicrophoneEnabled(false).catch(() => {});
  }
}

// ---- spoken translations ---------------------------------------------------------------------
// Audio can arrive out of order (each is synthesized on its own); it is played in the order the
// messages were said, one at a time. A message whose audio is late is waited for up to 4 s.
const TTS_WAIT_MS = 4000;

function expectSpeech(c) {
  // In a voice room translations come on your language's track; a file comes only if the agent
  // could not take it, and is played when it does, with nothing to wait for.
  if ($("tts").checked && !S.voice && !c.mine && c.speakerId !== S.user.id) S.tts.queue.push({ id: c.id, at: c.at, since: Date.now(), url: null });
}

function queueSpeech(t) {
  if (!$("tts").checked || S.tts.seen.has(t.messageId)) return;
  const utt = String(t.messageId).split(":")[0];
  const c = S.captions.get(utt);
  if (c && c.speakerId === S.user.id) return; // never your own speech
  S.tts.seen.add(t.messageId);
  const url = t.url + "#" + encodeURIComponent(t.messageId);
  const item = S.tts.queue.find((q) => q.id === utt);
  if (item) item.url = url;
  else S.tts.queue.push({ id: utt, at: c ? c.at : Date.now(), since: Date.now(), url });
  S.tts.queue.sort((a, b) => a.at - b.at);
  playNext();
}

function playNext() {
  if (S.tts.playing) return;
  while (S.tts.queue.length && !S.tts.queue[0].url && Date.now() - S.tts.queue[0].since > TTS_WAIT_MS) {
    S.tts.queue.shift(); // its audio never came: do not hold the rest back
  }
  const head = S.tts.queue[0];
  if (!head) return;
  if (!head.url) { clearTimeout(S.tts.timer); S.tts.timer = setTimeout(playNext, 250); return; }
  S.tts.queue.shift();
  S.tts.playing = true;
  const audio = new Audio(head.url);
  const entry = { url: head.url, start: performance.now(), end: null };
  (S.tts.log = S.tts.log || []).push(entry); // what played when: shown to tests, never sent
  const done = () => { entry.end = performance.now(); S.tts.playing = false; playNext(); };
  audio.onended = done; audio.onerror = done;
  audio.play().catch(done);
}

// ---- settings --------------------------------------------------------------------------------
// What this server offers beyond text (voice rooms) and its notes on engines (no sign-in needed).
async function loadFeatures() {
  try { S.features = await api("/api/features"); } catch (e) { S.features = {}; }
}

// The engines of each kind, as GET /api/engines lists them (no sign-in needed). Should that fail,
// what /api/languages says is enough to keep the page usable with the local engines.
async function loadEngines() {
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

function engineLabel(name) {
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

function fillSettings() {
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

// The voices the chosen speech engine has for your language. "Default voice" is always there (and
// alone if the list cannot be had); a saved voice the engine lacks shows as the default.
let voicesAsked = 0;
async function fillVoices() {
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

async function savePref(body) {
  try { const out = await api("/api/me", { method: "PATCH", body }); S.prefs = out.preferences; return true; }
  catch (e) { showError(e.message); fillSettings(); return false; }
}

function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name; document.body.append(a); a.click(); a.remove();
}

function exportAs(kind) {
  const list = [...S.captions.values()];
  const base = `live-translator-${S.room ? S.room.code : "transcript"}`;
  if (kind === "srt") download(`${base}.srt`, "application/x-subrip", toSRT(list));
  else if (kind === "vtt") download(`${base}.vtt`, "text/vtt", toVTT(list));
  else download(`${base}.json`, "application/json", toJSON(list, S.room && S.room.code));
}

// ---- wiring ----------------------------------------------------------------------------------
async function main() {
  $("signin-form").addEventListener("submit", signIn);
  $("create-room").addEventListener("click", createRoom);
  $("join-form").addEventListener("submit", (ev) => { ev.preventDefault(); joinRoom($("room-code").value); });
  $("change-me").addEventListener("click", () => { $("name").value = S.user.displayName; $("language").value = S.user.language; describeLanguage(); show("signin"); });
  $("leave").addEventListener("click", leaveRoom);
  $("copy-link").addEventListener("click", async () => {
    const link = `${location.origin}/?room=${S.room.code}`;
    try { await navigator.clipboard.writeText(link); $("copy-link").textContent = "Link copied"; }
    catch (e) { prompt("Copy this link", link); }
  });
  $("say-form").addEventListener("submit", say);
  $("mic").addEventListener("click", toggleMic);
  const list = $("captions");
  list.addEventListener("scroll", () => { if (nearBottom(list)) $("jump").hidden = true; });
  $("jump").addEventListener("click", () => { list.scrollTop = list.scrollHeight; $("jump").hidden = true; });
  $("tts").addEventListener("change", () => { savePref({ ttsEnabled: $("tts").checked }); syncTranslationTrack(); });
  $("listen").addEventListener("click", toggleListen);
  $("duck").value = localStorage.getItem("lt.duck") || "25";
  $("mute-originals").checked = localStorage.getItem("lt.muteOriginals") === "1";
  const duck = () => {
    $("duck-value").textContent = `${$("duck").value} %`;
    localStorage.setItem("lt.duck", $("duck").value);
    localStorage.setItem("lt.muteOriginals", $("mute-originals").checked ? "1" : "0");
    if (S.voice) S.voice.mixer.set(duckSettings());
  };
  duck();
  $("duck").addEventListener("input", duck);
  $("mute-originals").addEventListener("change", duck);
  $("tts-engine").addEventListener("change", async () => { if (await savePref({ ttsEngine: $("tts-engine").value })) fillVoices(); });
  $("voice").addEventListener("change", () => savePref({ voice: $("voice").value || null }));
  $("stt-engine").addEventListener("change", () => savePref({ sttEngine: $("stt-engine").value }));
  $("translation-engine").addEventListener("change", () => savePref({ translationEngine: $("translation-engine").value }));
  $("glossary-form").addEventListener("submit", saveGlossary);
  $("usage").addEventListener("toggle", () => { if ($("usage").open) loadUsage(); });
  $("language").addEventListener("change", () => { describeLanguage(); if (!S.user) fillSoloTargets(); });
  $("solo-target").addEventListener("change", () => savePref({ soloTargetLang: $("solo-target").value }));
  for (const b of document.querySelectorAll("[data-export]")) b.addEventListener("click", () => exportAs(b.dataset.export));

  await Promise.all([loadLanguages(), loadFeatures(), loadEngines()]);
  if (S.token) {
    try { await loadMe(); } catch (e) { S.token = null; localStorage.removeItem("lt.token"); }
  }
  if (!S.user) { show("signin"); $("name").focus(); return; }
  await enterLobby();
}

main().catch((e) => showError(e.message));
