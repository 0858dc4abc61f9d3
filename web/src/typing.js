// Typing a message: sent as a transcript of your own language, retried while the service is busy.
import { $, showError } from "./dom.js";
import { send } from "./net.js";
import { S } from "./state.js";

export async function say(ev) {
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
