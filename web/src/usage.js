// Premium usage. Checked on joining and, at most twice a minute, as captions arrive: the line
// shows up once the room has used a premium engine, and is read afresh each time it is opened.
import { $ } from "./dom.js";
import { api } from "./net.js";
import { usageLines } from "./premium.js";
import { engineLabel } from "./settings.js";
import { S } from "./state.js";
import { usageWait } from "./timing.js";

export async function loadUsage() {
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

export function usageSoon() {
  if (!S.room || S.usage.timer) return;
  S.usage.timer = setTimeout(() => { S.usage.timer = 0; loadUsage(); }, usageWait(S.usage.at, Date.now()));
}
