// The socket: connected once signed in, each server event handed to the module it is for.
import { io } from "socket.io-client";
import { dropLive, fillIn, onCaption, onTranslated, showInterim, showLiveTranslation } from "./captions.js";
import { $, pill, showError, showNotice } from "./dom.js";
import { renderGlossary } from "./glossary.js";
import { call } from "./net.js";
import { renderPeople } from "./people.js";
import { onJoined } from "./room.js";
import { queueSpeech } from "./speech.js";
import { S } from "./state.js";

export function connectSocket() {
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
  socket.on("recognized-speech", onCaption);
  socket.on("translated-message", (m) => onTranslated(m, false));
  socket.on("solo-translated", (m) => onTranslated(m, true));
  socket.on("translation-failed", onCaption);
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

async function probeLatency() {
  if (!S.socket || !S.socket.connected) return;
  const t0 = performance.now();
  try { await call("ping"); $("conn").title = `round trip ${Math.round(performance.now() - t0)} ms`; } catch (e) { /* shown by disconnect */ }
}
