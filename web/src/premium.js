// Engine choices, room glossaries and premium usage: how they read on the page. Pure functions;
// main.js owns the DOM, the requests and the state.

export const GLOSSARY_MAX_TERMS = 100;
export const GLOSSARY_MAX_CHARS = 50;

// "xAI Grok ★ premium — unavailable: no XAI_API_KEY configured"
export function engineText(e) {
  return (e.label || e.name) + (e.premium ? " ★ premium" : "") +
    (e.available === false ? ` — unavailable: ${e.reason || "not configured"}` : "");
}

// The value a select of engines should show: the preference if listed, else the server's default.
export function chosenEngine(list, preferred, fallback) {
  if (preferred && list.some((e) => e.name === preferred)) return preferred;
  return list.some((e) => e.name === fallback) ? fallback : (list[0] ? list[0].name : "");
}

// The terms typed one per line: trimmed, blank lines and repeats dropped; a list that breaks the
// limits is refused with a sentence saying which, before anything is sent.
export function parseTerms(text) {
  const terms = [...new Set(text.split("\n").map((t) => t.trim()).filter(Boolean))];
  const long = terms.find((t) => t.length > GLOSSARY_MAX_CHARS);
  if (long) return { error: `"${long.slice(0, 20)}…" is longer than ${GLOSSARY_MAX_CHARS} characters.` };
  if (terms.length > GLOSSARY_MAX_TERMS) return { error: `At most ${GLOSSARY_MAX_TERMS} terms (you have ${terms.length}).` };
  return { terms };
}

const round = (x) => Math.round(x * 10) / 10;

// One line per provider: what the room used today, and the budget if there is one.
export function usageLines(usage, labelOf) {
  return Object.entries(usage.totals || {}).map(([provider, t]) => {
    const parts = [];
    if (t.audio_seconds) parts.push(`${round(t.audio_seconds)} s of speech`);
    if (t.characters) parts.push(`${t.characters} characters`);
    if (t.tokens) parts.push(`${t.tokens} tokens`);
    const minutes = usage.budget && usage.budget[provider] && usage.budget[provider].audio_minutes;
    if (minutes && minutes.limit) parts.push(`${round(minutes.used)} of ${minutes.limit} audio minutes today`);
    return `${labelOf(provider)}: ${parts.join(" · ") || "nothing yet"}`;
  });
}
