// Rooms: creating, joining (and rejoining after a reconnect), leaving.
import { clearCaptions, fillIn } from "./captions.js";
import { $, show, showError } from "./dom.js";
import { loadGlossary } from "./glossary.js";
import { stopMic } from "./microphone.js";
import { api, call } from "./net.js";
import { renderPeople } from "./people.js";
import { S, langName } from "./state.js";
import { loadUsage } from "./usage.js";
import { leaveVoice } from "./voiceroom.js";

export async function createRoom() {
  try { const { code } = await api("/api/rooms", { method: "POST" }); await joinRoom(code); }
  catch (e) { showError(e.message); }
}

export async function joinRoom(code) {
  try { await call("join-room", code.trim().toUpperCase()); }
  catch (e) { showError(e.message); show("lobby"); }
}

// joined-room: on joining, and again on a reconnect's rejoin (the same room: its captions stay).
export function onJoined({ roomId, code, participants }) {
  const fresh = !S.room || S.room.id !== roomId;
  S.room = { id: roomId, code };
  if (fresh) clearCaptions();
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

export async function leaveRoom() {
  await stopMic();
  await leaveVoice();
  try { await call("leave-room"); } catch (e) { /* already out */ }
  S.room = null; S.glossary = null; history.replaceState(null, "", "/"); show("lobby");
  $("glossary").hidden = true; $("usage").hidden = true;
}
