// The page's one state object, shared by its modules (and shown to tests as window.__lt: never
// sent anywhere), and the page's query parameters.
import { languageName } from "./languages.js";

export const params = new URLSearchParams(location.search);
export const S = {
  token: localStorage.getItem("lt.token"), user: null, prefs: {}, languages: [], local: {}, features: {},
  engineList: null, glossary: null, usage: { at: 0, timer: 0 },
  socket: null, room: null, participants: new Map(), captions: new Map(), blocks: new Map(),
  liveKeys: new Map(), liveTranslated: new Set(),
  watermark: 0, latencies: [], mic: null, tts: { queue: [], seen: new Set(), playing: false },
};
window.__lt = S; // for tests and debugging

export const langName = (code) => languageName(S.languages, code);
