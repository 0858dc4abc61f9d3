// Transcript export: bilingual SRT, WebVTT and JSON from the caption store.
// One cue per segment (a long utterance is several). Each cue runs from its speech end (or
// receipt) for an estimated reading time, never past the next cue.

const pad = (n, w = 2) => String(Math.floor(n)).padStart(w, "0");

function clock(ms, sep) {
  const t = Math.max(0, ms);
  const h = t / 3600000, m = (t / 60000) % 60, s = (t / 1000) % 60;
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(t % 1000, 3)}`;
}

// One cue per segment, in the order things were said: by time, and the segments of one utterance
// (same speaker and utteranceKey) in part order, even when a later one was received first.
export function cues(captions) {
  const utterances = new Map();
  for (const c of captions) {
    if (!c.final) continue;
    const k = `${c.speakerId} ${c.key || c.id}`;
    if (!utterances.has(k)) utterances.set(k, []);
    utterances.get(k).push(c);
  }
  const timed = [];
  for (const parts of utterances.values()) {
    parts.sort((a, b) => (a.part || 0) - (b.part || 0));
    let at = -Infinity;
    for (const c of parts) { at = Math.max(at, c.at); timed.push({ c, at }); }
  }
  if (!timed.length) return [];
  timed.sort((a, b) => a.at - b.at || (a.c.part || 0) - (b.c.part || 0));
  const t0 = timed[0].at;
  return timed.map(({ c, at }, i) => {
    const start = at - t0;
    const words = (c.translated || c.original).split(/\s+/).length;
    let end = start + Math.max(1500, words * 400);
    if (i + 1 < timed.length) end = Math.min(end, Math.max(start + 500, timed[i + 1].at - t0));
    return { ...c, start, end };
  });
}

// One line each, whatever the text holds: a line break (or "-->") would start a cue of its own.
const flat = (s) => String(s).replace(/[\r\n\v\f\u0085\u2028\u2029]+/g, " ").replace(/-->/g, "→");

function lines(c) {
  const out = [flat(`${c.speakerName}: ${c.translated || c.original}`)];
  if (c.translated && c.translated !== c.original) out.push(flat(`(${c.sourceLang}) ${c.original}`));
  return out;
}

export function toSRT(captions) {
  return cues(captions).map((c, i) =>
    `${i + 1}\n${clock(c.start, ",")} --> ${clock(c.end, ",")}\n${lines(c).join("\n")}\n`).join("\n");
}

export function toVTT(captions) {
  const body = cues(captions).map((c) =>
    `${c.id}\n${clock(c.start, ".")} --> ${clock(c.end, ".")}\n${lines(c).join("\n")}\n`).join("\n");
  return `WEBVTT\n\n${body}`;
}

export function toJSON(captions, room) {
  return JSON.stringify({
    room, exportedAt: new Date().toISOString(),
    captions: cues(captions).map((c) => ({
      utteranceId: c.id, utteranceKey: c.key || c.id, part: c.part || 0,
      speakerId: c.speakerId, speakerName: c.speakerName,
      sourceLang: c.sourceLang, originalText: c.original, targetLang: c.targetLang,
      translatedText: c.translated, at: new Date(c.at).toISOString(), startMs: c.start, endMs: c.end,
    })),
  }, null, 2);
}
