// Live Translator browser client: the page's controls wired to the modules that do the work
// (listed in ARCHITECTURE.md). Bundled at set-up by esbuild (with socket.io-client and
// livekit-client from npm) into app/static/vendor/app.bundle.js; nothing is fetched from a CDN.
import { $, nearBottom, show, showError } from "./dom.js";
import { saveGlossary } from "./glossary.js";
import { describeLanguage, enterLobby, loadLanguages, loadMe, signIn } from "./lobby.js";
import { toggleListen, toggleMic } from "./microphone.js";
import { createRoom, joinRoom, leaveRoom } from "./room.js";
import { fillSoloTargets, fillVoices, loadEngines, loadFeatures, savePref } from "./settings.js";
import { S } from "./state.js";
import { exportAs } from "./transcript.js";
import { say } from "./typing.js";
import { loadUsage } from "./usage.js";
import { duckSettings, syncTranslationTrack } from "./voiceroom.js";

async function main() {
  $("signin-form").addEventListener("submit", signIn);
  $("create-room").addEventListener("click", createRoom);
  $("join-form").addEventListener("submit", (ev) => { ev.preventDefault(); joinRoom($("room-code").value); });
  $("change-me").addEventListener("click", () => { $("name").value = S.user.displayName; $("language").value = S.user.language; describeLanguage(); show("signin"); });
  $("leave").addEventListener("click", leaveRoom);
  $("copy-link").addEventListener("click", async () => {
    const link = `${location.origin}/?room=${S.room.code}`;
    try { await navigator.clipboard.writeText(link); $("copy-link").textContent = "Link copied"; }
    catch (e) { prompt("Copy this link", link); }
  });
  $("say-form").addEventListener("submit", say);
  $("mic").addEventListener("click", toggleMic);
  const list = $("captions");
  list.addEventListener("scroll", () => { if (nearBottom(list)) $("jump").hidden = true; });
  $("jump").addEventListener("click", () => { list.scrollTop = list.scrollHeight; $("jump").hidden = true; });
  $("tts").addEventListener("change", () => { savePref({ ttsEnabled: $("tts").checked }); syncTranslationTrack(); });
  $("listen").addEventListener("click", toggleListen);
  $("duck").value = localStorage.getItem("lt.duck") || "25";
  $("mute-originals").checked = localStorage.getItem("lt.muteOriginals") === "1";
  const duck = () => {
    $("duck-value").textContent = `${$("duck").value} %`;
    localStorage.setItem("lt.duck", $("duck").value);
    localStorage.setItem("lt.muteOriginals", $("mute-originals").checked ? "1" : "0");
    if (S.voice) S.voice.mixer.set(duckSettings());
  };
  duck();
  $("duck").addEventListener("input", duck);
  $("mute-originals").addEventListener("change", duck);
  $("tts-engine").addEventListener("change", async () => { if (await savePref({ ttsEngine: $("tts-engine").value })) fillVoices(); });
  $("voice").addEventListener("change", () => savePref({ voice: $("voice").value || null }));
  $("stt-engine").addEventListener("change", () => savePref({ sttEngine: $("stt-engine").value }));
  $("translation-engine").addEventListener("change", () => savePref({ translationEngine: $("translation-engine").value }));
  $("glossary-form").addEventListener("submit", saveGlossary);
  $("usage").addEventListener("toggle", () => { if ($("usage").open) loadUsage(); });
  $("language").addEventListener("change", () => { describeLanguage(); if (!S.user) fillSoloTargets(); });
  $("solo-target").addEventListener("change", () => savePref({ soloTargetLang: $("solo-target").value }));
  for (const b of document.querySelectorAll("[data-export]")) b.addEventListener("click", () => exportAs(b.dataset.export));

  await Promise.all([loadLanguages(), loadFeatures(), loadEngines()]);
  if (S.token) {
    try { await loadMe(); } catch (e) { S.token = null; localStorage.removeItem("lt.token"); }
  }
  if (!S.user) { show("signin"); $("name").focus(); return; }
  await enterLobby();
}

main().catch((e) => showError(e.message));
