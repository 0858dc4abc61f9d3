// Sign in and the lobby: who you are, your language, then a room to create or join.
import { connectSocket } from "./connection.js";
import { $, show, showError } from "./dom.js";
import { browserLanguage, languageNote } from "./languages.js";
import { api } from "./net.js";
import { joinRoom } from "./room.js";
import { fillSettings, fillSoloTargets } from "./settings.js";
import { S, langName, params } from "./state.js";

export async function loadLanguages() {
  const { languages, engines, local } = await api("/api/languages");
  S.languages = languages; S.engines = engines; S.local = local || {};
  const sel = $("language"); sel.innerHTML = "";
  for (const l of languages) sel.add(new Option(`${l.name} (${l.code})`, l.code));
  sel.value = browserLanguage(languages, navigator.language);
  describeLanguage();
  fillSoloTargets();
}

// How well the local engines serve the chosen language, said before anyone commits to it.
export function describeLanguage() {
  const l = S.languages.find((x) => x.code === $("language").value);
  if (!l) return;
  $("language-note").textContent = languageNote(l, S.local);
}

export async function signIn(ev) {
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

export async function loadMe() {
  const out = await api("/api/me");
  S.user = out.user; S.prefs = out.preferences;
}

export async function enterLobby() {
  fillSettings();
  $("whoami").textContent = `Signed in as ${S.user.displayName}, ${langName(S.user.language)}.`;
  connectSocket();
  const code = params.get("room");
  if (code && !S.room) { await joinRoom(code); return; }
  show(S.room ? "room" : "lobby");
  if (!S.room) $("create-room").focus();
}
