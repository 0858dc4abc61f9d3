// The room's glossary: the terms every translation keeps; its owner edits them.
import { $, showError } from "./dom.js";
import { api } from "./net.js";
import { parseTerms } from "./premium.js";
import { S } from "./state.js";

export async function loadGlossary() {
  const roomId = S.room.id;
  try {
    const g = await api(`/api/rooms/${roomId}/glossary`);
    if (S.room && S.room.id === roomId) renderGlossary(g);
  } catch (e) {
    $("glossary").hidden = true;
    showError("Could not load the room's glossary: " + e.message);
  }
}

// The editor keeps what its owner is typing; it follows the saved list only while untouched
// (or, with `reset`, just after the owner saved).
export function renderGlossary(g, reset = false) {
  const input = $("glossary-input");
  const untouched = reset || !S.glossary || input.value === S.glossary.terms.join("\n");
  S.glossary = { terms: g.terms || [], canEdit: !!g.canEdit };
  const ul = $("glossary-terms"); ul.innerHTML = "";
  for (const t of S.glossary.terms) {
    const li = document.createElement("li"); li.textContent = t; ul.append(li);
  }
  $("glossary-empty").hidden = S.glossary.terms.length > 0;
  $("glossary-form").hidden = !S.glossary.canEdit;
  if (S.glossary.canEdit && untouched) input.value = S.glossary.terms.join("\n");
  $("glossary").hidden = false;
}

export async function saveGlossary(ev) {
  ev.preventDefault();
  const { terms, error } = parseTerms($("glossary-input").value);
  if (error) { showError(error); return; }
  const btn = $("glossary-save");
  btn.disabled = true;
  try {
    renderGlossary(await api(`/api/rooms/${S.room.id}/glossary`, { method: "PUT", body: { terms } }), true);
  } catch (e) { showError(e.message); } finally { btn.disabled = false; }
}
