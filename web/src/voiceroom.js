// The voice room (LiveKit). One LiveKit session per page: listen-only (no microphone; a token that
// cannot publish) or with the microphone. You hear everyone else's microphone and, with "Read
// translations aloud" on, the agent's tts-<your language> track; the originals are lowered while a
// translation plays (voice.js mixes them).
import { ParticipantKind, Room, RoomEvent, Track } from "livekit-client";
import { segmentEls } from "./captions.js";
import { $, pill, soloFields } from "./dom.js";
import { call } from "./net.js";
import { S } from "./state.js";
import { lagLook } from "./timing.js";
import { Mixer } from "./voice.js";

export function duckSettings() {
  return { duck: Number($("duck").value) / 100, mute: $("mute-originals").checked };
}

export async function joinVoice(listenOnly) {
  if (S.voice && (listenOnly || !S.voice.listenOnly)) return S.voice; // already in, able enough
  if (S.voice) await leaveVoice({ quiet: true });
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no answer from the server")), 15000);
    S.socket.once("voice-session-ready", (r) => { clearTimeout(t); resolve(r); });
  });
  await call("start-voice-session", { languageCode: S.user.language, listenOnly, ...(listenOnly ? {} : soloFields()) });
  const { liveKitUrl, liveKitToken } = await ready;
  const room = new Room({ audioCaptureDefaults: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  // heard: the names of the tracks this page has subscribed to (shown to tests, never sent)
  const voice = { room, listenOnly, mixer: new Mixer(duckSettings()), lines: [], lag: null, heard: [] };
  S.voice = voice;
  room.on(RoomEvent.TrackPublished, (pub, p) => considerTrack(pub, p));
  room.on(RoomEvent.TrackSubscribed, (track, pub, p) => {
    voice.heard.push(pub.trackName);
    // Someone who speaks your language has no translation: "Mute originals" leaves them audible.
    const kind = isAgent(p) ? "translation" : (p.attributes || {}).language === myLanguage(voice) ? "same" : "original";
    voice.mixer.add(pub.trackSid, track.mediaStreamTrack, kind);
  });
  // Your language changed (the server updates your attributes): the other language's track.
  room.on(RoomEvent.ParticipantAttributesChanged, (changed, p) => { if (p === room.localParticipant && "language" in changed) syncTranslationTrack(); });
  room.on(RoomEvent.TrackUnsubscribed, (track, pub) => voice.mixer.remove(pub.trackSid));
  room.on(RoomEvent.DataReceived, (payload, p, kind, topic) => { if (topic === "lt.tts" && p && isAgent(p)) onPlayback(voice, payload); });
  room.on(RoomEvent.Disconnected, () => {
    if (S.voice === voice) { voiceState("disconnected", "bad"); if (S.mic && S.mic.kind === "livekit") pill($("mic-state"), "disconnected", "bad"); }
  });
  room.on(RoomEvent.Reconnecting, () => voiceState("reconnecting…", "warn"));
  room.on(RoomEvent.Reconnected, () => voiceState(voice.listenOnly ? "listening" : "in voice", "ok"));
  await room.connect(liveKitUrl, liveKitToken, { autoSubscribe: false });
  for (const p of room.remoteParticipants.values()) for (const pub of p.trackPublications.values()) considerTrack(pub, p);
  voiceState(listenOnly ? "listening" : "in voice", "ok");
  $("listen").textContent = "Leave voice"; $("listen").setAttribute("aria-pressed", "true");
  return voice;
}

function isAgent(p) { return p.kind === ParticipantKind.AGENT || p.isAgent === true; }
function myLanguage(voice) { return (voice.room.localParticipant.attributes || {}).language || S.user.language; }

// Originals: every human microphone. Translation: the agent's track of your language only, and
// only while you want translations read aloud (the agent refuses you any other language's).
function considerTrack(pub, p) {
  if (pub.kind !== Track.Kind.Audio) return;
  if (isAgent(p)) {
    if (pub.trackName.startsWith("tts-")) pub.setSubscribed(pub.trackName === `tts-${myLanguage(S.voice)}` && $("tts").checked);
    return;
  }
  if (pub.source === Track.Source.Microphone) pub.setSubscribed(true);
}

export function syncTranslationTrack() {
  if (!S.voice) return;
  for (const p of S.voice.room.remoteParticipants.values()) for (const pub of p.trackPublications.values()) considerTrack(pub, p);
}

// The agent says which line of your language plays now and how far behind the room it is.
function onPlayback(voice, payload) {
  let m;
  try { m = JSON.parse(new TextDecoder().decode(payload)); } catch (e) { return; }
  if (!m || typeof m !== "object" || typeof m.type !== "string") return;
  voice.lines.push(m);
  if (voice.lines.length > 500) voice.lines.shift();
  if (m.type === "playing" && Number.isFinite(m.lagMs) && Number.isFinite(m.speed)) {
    voice.lag = m.lagMs;
    pill($("voice-lag"), ...lagLook(m));
    $("voice-lag").hidden = false;
    const [li] = segmentEls(m.utteranceId);
    if (li) { li.classList.add("speaking"); setTimeout(() => li.classList.remove("speaking"), m.durationMs || 2000); }
  } else if (m.type === "skipped" && Array.isArray(m.utteranceIds)) {
    for (const id of m.utteranceIds) {
      const [, seg] = segmentEls(id);
      if (seg) { seg.classList.add("unspoken"); seg.title = "Not read aloud: skipped to catch up with the room"; }
    }
  }
}

export function voiceState(text, kind) { pill($("voice-state"), text, kind); }

export async function leaveVoice({ quiet = false } = {}) {
  const voice = S.voice; S.voice = null;
  $("listen").textContent = "Listen in voice"; $("listen").setAttribute("aria-pressed", "false");
  voiceState("off"); $("voice-lag").hidden = true;
  if (!voice) return;
  await voice.room.disconnect().catch(() => {});
  await voice.mixer.close();
  if (!quiet) { try { await call("stop-voice-session"); } catch (e) { /* ended already */ } }
}
