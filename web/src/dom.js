// Small helpers for the page's elements.
export const $ = (id) => document.getElementById(id);

let errorTimer = 0;
export function showError(message) {
  const el = $("error");
  el.textContent = message; el.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { el.hidden = true; }, 10000);
}
// Something worth knowing that is not an error (e.g. recognition moved to another engine).
let noticeTimer = 0;
export function showNotice(message, code = "") {
  const el = $("notice");
  el.textContent = message; el.dataset.code = code; el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 6000);
}
export function pill(el, text, kind) { el.textContent = text; el.className = "pill" + (kind ? " " + kind : ""); }
export function show(section) { for (const id of ["signin", "lobby", "room"]) $(id).hidden = id !== section; }
export function setText(el, s) { if (el.textContent !== s) el.textContent = s; }
export function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 40; }

// Solo mode as the form says: the fields it adds to what is sent.
export function soloFields() { return $("solo").checked ? { soloMode: true, soloTargetLang: $("solo-target").value } : {}; }

export function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name; document.body.append(a); a.click(); a.remove();
}
