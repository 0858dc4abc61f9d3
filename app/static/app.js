// Minimal client: sign in, create/join a room by code, type, read everyone in your language.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { token: localStorage.getItem("lt.token"), user: null, socket: null, seen: new Set() };

  function status(text) { $("status").textContent = text || ""; }

  async function api(path, options = {}) {
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const res = await fetch(path, { ...options, headers });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
    return body;
  }

  async function loadLanguages() {
    const { languages } = await api("/api/languages");
    const select = $("language");
    for (const l of languages) select.add(new Option(`${l.name} (${l.code})`, l.code));
    select.value = (navigator.language || "en").slice(0, 2);
  }

  function show(section) {
    for (const id of ["signin", "lobby", "room"]) $(id).hidden = id !== section;
  }

  function add(cls, who, text, original) {
    const li = document.createElement("li");
    li.className = cls;
    const w = document.createElement("span"); w.className = "who"; w.textContent = who;
    li.append(w, document.createTextNode(text));
    if (original) { const o = document.createElement("span"); o.className = "orig"; o.textContent = original; li.append(o); }
    $("messages").append(li);
    li.scrollIntoView({ block: "end" });
  }

  function once(id) { if (state.seen.has(id)) return false; state.seen.add(id); return true; }

  function connect() {
    const socket = io({ auth: { token: state.token }, transports: ["websocket"] });
    state.socket = socket;
    socket.on("connect_error", (err) => {
      status(err.message);
      if (/token|unauthorized/i.test(JSON.stringify(err.data || err.message))) { localStorage.removeItem("lt.token"); show("signin"); }
    });
    socket.on("joined-room", (d) => {
      $("room-label").textContent = d.code; $("share-code").textContent = d.code;
      $("participants").replaceChildren(...d.participants.map(person));
      show("room"); status("");
    });
    socket.on("user-joined", (p) => $("participants").append(person(p)));
    socket.on("user-left", (p) => { const li = $("p-" + p.userId); if (li) li.remove(); });
    socket.on("recognized-speech", (d) => once(d.id) && add("mine", "You", d.text));
    socket.on("translated-message", (d) => once(d.id) &&
      add("", d.speakerName + ":", d.translatedText, d.translatedText !== d.originalText ? d.originalText : ""));
    socket.on("translation-failed", (d) => once(d.id + ":failed") && add("failed", d.speakerName + ":", d.originalText, d.reason));
    socket.on("speech-error", (m) => status(m));
    socket.on("app-error", (e) => status(e.message));
  }

  function person(p) {
    const li = document.createElement("li");
    li.id = "p-" + p.userId; li.textContent = `${p.displayName} (${p.language})`;
    return li;
  }

  function join(code) {
    state.socket.emit("join-room", code.trim(), (ack) => { if (!ack.ok) status(ack.error.message); });
  }

  async function enter() {
    const { user } = await api("/api/me");
    state.user = user;
    $("whoami").textContent = `Signed in as ${user.displayName}, reading in ${user.language}.`;
    $("say-lang").textContent = user.language;
    show("lobby");
    connect();
    const fromLink = new URLSearchParams(location.search).get("room");
    if (fromLink) state.socket.once("connect", () => join(fromLink));
  }

  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const body = await api("/api/session", { method: "POST",
        body: JSON.stringify({ displayName: $("name").value, language: $("language").value }) });
      state.token = body.token; localStorage.setItem("lt.token", body.token);
      await enter();
    } catch (err) { status(err.message); }
  });
  $("create-room").addEventListener("click", async () => {
    try { const { code } = await api("/api/rooms", { method: "POST" }); join(code); } catch (err) { status(err.message); }
  });
  $("join-form").addEventListener("submit", (e) => { e.preventDefault(); join($("room-code").value); });
  $("say-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("say").value.trim();
    if (!text) return;
    state.socket.emit("speech-transcript", { transcript: text, sourceLang: state.user.language,
      clientId: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) },
      (ack) => { if (ack.ok) $("say").value = ""; });
  });
  $("leave").addEventListener("click", () => state.socket.emit("leave-room", null, () => show("lobby")));

  loadLanguages().then(() => state.token ? enter().catch(() => show("signin")) : show("signin"));
})();
