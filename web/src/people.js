// The room's participants: who is there, who is in voice, who is speaking now.
import { $ } from "./dom.js";
import { S } from "./state.js";

export function renderPeople() {
  const ul = $("participants"); ul.innerHTML = "";
  for (const p of S.participants.values()) {
    const li = document.createElement("li");
    li.dataset.user = p.userId;
    if (p.speaking) li.classList.add("speaking");
    li.textContent = p.displayName + (p.userId === S.user.id ? " (you)" : "");
    const lang = document.createElement("span"); lang.className = "lang"; lang.textContent = p.language;
    li.append(lang);
    if (p.inVoice) li.append(" 🎙");
    if (p.speaking) li.setAttribute("aria-label", `${p.displayName}, speaking`);
    ul.append(li);
  }
}

export function speaking(userId) {
  const p = S.participants.get(userId);
  if (!p) return;
  p.speaking = true; renderPeople();
  clearTimeout(p.speakTimer);
  p.speakTimer = setTimeout(() => { p.speaking = false; renderPeople(); }, 1500);
}
