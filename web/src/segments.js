// Captions as the page keeps them, without the DOM: how a payload maps to a segment, how the
// segments of one utterance join its block (in part order, each once) and how the live words
// (interims) follow them. Pure; captions.js owns the elements and the state.
//
// A block is one utterance (speaker + utteranceKey). Recognition commits an utterance a clause or
// sentence at a time: each segment is a final of its own (its own utterance id, `part` 0, 1, 2 …).
// While the speaker talks, the block's live words follow the committed parts: `src` (as heard,
// from `interim-transcript`) and `tr` (translated, from `interim-translation`).

export const partNo = (p) => (Number.isInteger(p) && p >= 0 ? p : 0);
export const blockId = (speakerId, key) => `${speakerId} ${key}`;
export const gap = (lang) => (/^(zh|ja|th|lo|km|my)\b/.test(lang || "") ? "" : " "); // between segments

// A caption payload as the page keeps it, the one mapping of every kind: a live translation
// (`translated-message`, `solo-translated`: timings, and no fromUserId when solo, where the speaker
// is you), a history item (receivedAt, speakerId), your own final (`recognized-speech`: text, no
// target: it is in your language) or a failed translation (`translation-failed`: reason, no time:
// it counts from when it came). Its time is the server's receipt: the server's order.
// `me`: the signed-in user ({id, language}).
export function captionOf(m, me, now = Date.now()) {
  const t = m.timings;
  const received = t ? t.received : m.receivedAt;
  const start = t && (t.speechEnd || t.received);
  const speakerId = m.fromUserId || m.speakerId || me.id;
  const c = { id: m.utteranceId, key: m.utteranceKey, part: m.part, speakerId,
    speakerName: m.speakerName, sourceLang: m.sourceLang, original: m.originalText ?? m.text,
    targetLang: m.targetLang || me.language, translated: m.translatedText ?? null, at: received || now, received,
    latency: start ? now - start : null, mine: speakerId === me.id };
  if (m.reason !== undefined) c.failed = m.reason;
  return c;
}

// What a segment shows: its translation, or the original when it failed or has none; and in what language.
export const shown = (c) => (c.failed || !c.translated ? [c.original, c.sourceLang] : [c.translated, c.targetLang]);

// A segment as stored: final, with a key (typed messages are one segment: part 0, key = their id).
export function asSegment(c) {
  c.final = true;
  c.key = String(c.key || c.id);
  c.part = partNo(c.part);
  return c;
}

// The same segment again (a redelivery, or history after a reconnect): what it says now, never
// clearing a field it leaves out.
export function refresh(had, c) {
  return Object.assign(had, Object.fromEntries(Object.entries(c).filter(([, v]) => v !== null && v !== undefined)));
}

export function newBlock(speakerId, key) {
  return { id: blockId(speakerId, key), key, speakerId, speakerName: null, parts: [], top: -1, at: Infinity,
    src: null, tr: null, el: null };
}

// A segment joins its block, in part order; false if that part is shown already. Live words of
// this segment or an earlier one are in the captions now; the block begins at its earliest part.
export function joinBlock(b, c) {
  if (b.parts.some((o) => o.part === c.part)) return false;
  c.block = b;
  b.parts.push(c); b.parts.sort((x, y) => x.part - y.part);
  b.top = Math.max(b.top, c.part);
  if (c.speakerName) b.speakerName = c.speakerName;
  if (b.src && b.src.part <= c.part) b.src = null;
  if (b.tr && b.tr.part <= c.part) b.tr = null;
  b.at = Math.min(b.at, c.at);
  return true;
}

// interim-transcript `i` for block `b` (null if it has none yet): the live words it shows, "drop"
// (nothing is left uncommitted) or null (nothing to do: words of a segment already shown, or older
// than the words shown). `part` is the number of the segment they will become.
export function heard(b, i) {
  const part = partNo(i.part);
  const text = String(i.text || "").trim();
  if (b && part <= b.top) return null;
  if (!text) return "drop";
  if (b && b.src && part < b.src.part) return null;
  return { part, text, lang: i.sourceLang, sourceLang: i.sourceLang };
}

// interim-translation `t`: those words in your language (`lang`, if it names none); the latest
// part's only, never a committed one. Null when it is not for the words shown.
export function translatedLive(b, t, lang) {
  const part = partNo(t.part);
  const text = String(t.text || "").trim();
  if (!b || !b.src || part !== b.src.part || part <= b.top || !text) return null;
  return { part, text, lang: t.targetLang || lang };
}

// What the live line says: in the speaker's language for them and for listeners of it; otherwise
// the translation of those words, with the words as heard under "Original". Until the translation
// of new words comes, a speaker whose words have been translated live before (`liveTranslated`)
// shows "…".
export function liveLines(b, me, liveTranslated) {
  const src = b.src, tr = b.tr && src && b.tr.part === src.part ? b.tr : null;
  if (!src) return { main: null, orig: null };
  if (b.speakerId === me.id || src.lang === me.language) return { main: src, orig: null };
  if (tr) return { main: tr, orig: src };
  if (liveTranslated.has(b.speakerId)) {
    return { main: { text: "…", lang: me.language, part: src.part }, orig: src };
  }
  return { main: src, orig: null };
}

// Captions in time order (history can arrive after newer live ones): the shown block of segments
// that `b` goes before, the first one that began after it; null if none (then it goes before the
// blocks of live words only, which stay last).
export function blockAfter(blocks, b) {
  return [...blocks].filter((o) => o !== b && o.parts.length && o.el && o.at > b.at)
    .sort((x, y) => x.at - y.at)[0] || null;
}
