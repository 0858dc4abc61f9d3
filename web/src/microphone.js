// The microphone, over the voice room (LiveKit) when the server has one, else straight over the
// socket; and the two buttons that change the voice room ("Start microphone", "Listen in voice"),
// one change at a time.
import { Track } from "livekit-client";
import { $, pill, showError, soloFields } from "./dom.js";
import { call } from "./net.js";
import { S, params } from "./state.js";
import { joinVoice, leaveVoice, voiceState } from "./voiceroom.js";

// The microphone's AudioWorklet (PCM chunks of 40 ms and their level) is a file of its own, served
// from this origin: the page's Content-Security-Policy runs scripts from nowhere else.
const WORKLET_URL = "/static/pcm-chunker.js";

function micState(text, kind) { pill($("mic-state"), text, kind); }

function audioPath() {
  const forced = params.get("audio") || $("audio-path").value;
  if (forced === "socket") return "socket";
  if (forced === "livekit") return "livekit";
  return S.features.voice ? "livekit" : "socket";
}

export async function toggleMic() {
  if (S.mic) { await stopMic(); return; }
  const btn = $("mic");
  btn.disabled = true; $("listen").disabled = true; // one voice-room change at a time
  micState("connecting…", "warn");
  try {
    if (audioPath() === "livekit") {
      try { await startLiveKit(); }
      catch (e) { showError(`Voice over LiveKit failed (${e.message}); using the direct audio path.`); await stopMic(); await leaveVoice(); await startSocketAudio(); }
    } else {
      await startSocketAudio();
    }
    micState("live", "ok");
    btn.textContent = "Stop microphone"; btn.setAttribute("aria-pressed", "true");
  } catch (e) {
    await stopMic();
    micState("error", "bad");
    showError(e.name === "NotAllowedError" ? "Microphone access was refused; allow it in the browser to speak." : e.message);
  } finally { btn.disabled = false; $("listen").disabled = false; }
}

export async function toggleListen() {
  const btn = $("listen");
  if (btn.disabled) return;
  btn.disabled = true; $("mic").disabled = true; // one voice-room change at a time
  try {
    if (S.voice) { if (S.mic && S.mic.kind === "livekit") await stopMic(); await leaveVoice(); }
    else { voiceState("connecting…", "warn"); await joinVoice(true); }
  } catch (e) { await leaveVoice(); showError(`Could not join the voice room: ${e.message}`); }
  finally { btn.disabled = false; $("mic").disabled = false; }
}

async function startSocketAudio() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 } });
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule(WORKLET_URL);
  const src = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-chunker");
  S.mic = { kind: "socket", stream, ctx, node };
  await call("start-speech", { languageCode: S.user.language, sampleRateHertz: ctx.sampleRate, encoding: "LINEAR16", ...soloFields() });
  node.port.onmessage = ({ data }) => {
    $("level").value = Math.min(1, data.rms * 4);
    if (S.socket.connected) S.socket.emit("speech-data", data.pcm);
  };
  src.connect(node);
}

async function startLiveKit() {
  const voice = await joinVoice(false);
  S.mic = { kind: "livekit", room: voice.room };
  await voice.room.localParticipant.setMicrophoneEnabled(true);
  const pub = voice.room.localParticipant.getTrackPublication(Track.Source.Microphone);
  if (pub && pub.track) meter(new MediaStream([pub.track.mediaStreamTrack]));
}

function meter(stream) {
  const ctx = new AudioContext();
  const an = ctx.createAnalyser(); an.fftSize = 1024;
  ctx.createMediaStreamSource(stream).connect(an);
  const buf = new Float32Array(an.fftSize);
  S.mic.meterCtx = ctx;
  const tick = () => {
    if (!S.mic || S.mic.meterCtx !== ctx) return;
    an.getFloatTimeDomainData(buf);
    let sq = 0; for (const x of buf) sq += x * x;
    $("level").value = Math.min(1, Math.sqrt(sq / buf.length) * 4);
    requestAnimationFrame(tick);
  };
  tick();
}

export async function stopMic() {
  const mic = S.mic; S.mic = null;
  $("mic").textContent = "Start microphone"; $("mic").setAttribute("aria-pressed", "false");
  $("level").value = 0; micState("off");
  if (!mic) return;
  if (mic.kind === "socket") {
    mic.node.port.onmessage = null;
    mic.stream.getTracks().forEach((t) => t.stop());
    await mic.ctx.close().catch(() => {});
    try { await call("stop-speech"); } catch (e) { /* the session may already be gone */ }
  } else {
    // The microphone goes off; you stay in the voice room, listening, until you leave it.
    if (mic.meterCtx) await mic.meterCtx.close().catch(() => {});
    await mic.room.localParticipant.setMicrophoneEnabled(false).catch(() => {});
  }
}
