// The caption list. One caption block per utterance; its segments join it in part order, each
// once, and the live words follow them, dimmed, never announced, gone once the segment they become
// arrives (segments.js: the rules, without the DOM). S.captions keeps each segment by utterance id
// (read aloud, playback, export); S.blocks the blocks by speaker and key.
import { $, nearBottom, pill, setText, showError } from "./dom.js";
import { api } from "./net.js";
import { speaking } from "./people.js";
import { asSegment, blockAfter, blockId, captionOf, gap, heard, joinBlock, liveLines, newBlock, refresh, shown,
  translatedLive } from "./segments.js";
import { expectSpeech } from "./speech.js";
import { S, langName } from "./state.js";
import { historySince, keepLatency, latencyLook } from "./timing.js";
import { usageSoon } from "./usage.js";

const LIVE_STALE_MS = 15000; // a live line nothing updated or committed this long is dropped

// A caption payload of any kind (segments.js's captionOf), shown.
export function onCaption(m) { addCaption(captionOf(m, S.user)); }

export function onTranslated(m, solo) {
  onCaption(m);
  const c = S.captions.get(m.utteranceId);
  if (!solo && c && !S.tts.queue.some((q) => q.id === c.id) && !S.tts.seen.has(`${c.id}:${m.targetLang}`)) expectSpeech(c);
}

// A new room: none of the last one's captions.
export function clearCaptions() {
  for (const b of S.blocks.values()) clearTimeout(b.stale);
  S.captions.clear(); S.blocks.clear(); S.liveKeys.clear(); S.liveTranslated.clear();
  $("captions").innerHTML = ""; S.watermark = 0;
}

function block(speakerId, key) {
  const id = blockId(speakerId, key);
  let b = S.blocks.get(id);
  if (!b) { b = newBlock(speakerId, key); S.blocks.set(id, b); }
  return b;
}

// A segment (typed messages are one segment: part 0, key = their utterance id).
function addCaption(c) {
  const list = $("captions");
  const stick = nearBottom(list);
  asSegment(c);
  const had = S.captions.get(c.id);
  if (had) { // the same segment again (a redelivery, or history after a reconnect): update, never add
    refresh(had, c);
    if (had.block) syncBlock(had.block);
    return;
  }
  const b = block(c.speakerId, c.key);
  const at = b.at;
  if (!joinBlock(b, c)) return; // that segment is shown already
  S.captions.set(c.id, c);
  if (c.received) S.watermark = Math.max(S.watermark, c.received);
  const latencies = keepLatency(S.latencies, c.latency);
  if (latencies) { S.latencies = latencies; renderLatency(); }
  if (!b.src && !b.tr) clearTimeout(b.stale);
  // An interim without a key (an older server) is the speaker's words until any of theirs is final.
  const keyless = S.blocks.get(blockId(c.speakerId, ""));
  if (keyless && keyless !== b) dropLive(keyless);
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
    const after = blockAfter(S.blocks.values(), b);
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
  const live = liveLines(b, S.user, S.liveTranslated);
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

// interim-transcript: the speaker's words after their committed segments.
export function showInterim(i) {
  speaking(i.speakerId);
  const key = String(i.utteranceKey || "");
  // The speaker moved on to another utterance: the words of the last one are committed.
  const prev = S.liveKeys.get(i.speakerId);
  if (prev !== undefined && prev !== key) { const o = S.blocks.get(blockId(i.speakerId, prev)); if (o) dropLive(o); }
  S.liveKeys.set(i.speakerId, key);
  let b = S.blocks.get(blockId(i.speakerId, key));
  const words = heard(b, i);
  if (words === null) return;
  if (words === "drop") { if (b) dropLive(b); return; }
  if (!b) b = block(i.speakerId, key);
  b.src = words;
  showLive(b);
}

// interim-translation: those words in your language.
export function showLiveTranslation(t) {
  const b = S.blocks.get(blockId(t.speakerId, String(t.utteranceKey || "")));
  const tr = translatedLive(b, t, S.user.language);
  if (!tr) return;
  S.liveTranslated.add(t.speakerId);
  b.tr = tr;
  speaking(t.speakerId);
  showLive(b);
}

export function dropLive(b) {
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
export function segmentEls(id) {
  const c = S.captions.get(String(id));
  const li = c && c.block && c.block.el;
  return li ? [li, li.querySelector(`.text > .seg[data-id="${CSS.escape(String(id))}"]`)] : [null, null];
}

// The room's earlier captions (on joining, after a reconnect, or when the server lost messages at `lostAt`).
export async function fillIn(lostAt) {
  if (!S.room) return;
  let since = historySince(S.watermark, lostAt);
  for (let page = 0; page < 20; page++) {
    let out;
    try { out = await api(`/api/rooms/${S.room.id}/messages?since=${since}`); }
    catch (e) { showError("Could not load earlier captions: " + e.message); return; }
    for (const m of out.messages) {
      onCaption(m);
      since = Math.max(since, m.receivedAt);
    }
    if (!out.more) break;
  }
}

function renderLatency() { pill($("latency"), ...latencyLook(S.latencies)); }
