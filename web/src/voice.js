// What a voice room sounds like on this page: everyone else's microphone (the originals) and the
// agent's tts-<your language> track (the translation), mixed with WebAudio. While the translation
// plays, the originals are lowered to `duck` of their level (or muted altogether), as an
// interpreter's booth does; they come back HOLD_MS after the translation goes quiet. People who
// speak your own language ("same") have no translation: they are lowered too while one plays, but
// "Mute originals" leaves them audible.

export const PLAYING_RMS = 0.01; // translation-track level above which it counts as playing
export const HOLD_MS = 400;
const TICK_MS = 50;
const KEEP_SAMPLES = 2400; // two minutes of levels, for the page's own checks (and tests)

// The gain of the originals: full, ducked while a translation plays, or none when muted (`same`:
// a speaker of your language, never muted).
export function originalsGain({ playing, duck, mute }, same = false) {
  if (mute && !same) return 0;
  return playing ? Math.max(0, Math.min(1, duck)) : 1;
}

function rms(an, buf) {
  an.getFloatTimeDomainData(buf);
  let sq = 0;
  for (const x of buf) sq += x * x;
  return Math.sqrt(sq / buf.length);
}

export class Mixer {
  constructor({ duck = 0.25, mute = false } = {}) {
    const ctx = (this.ctx = new AudioContext());
    ctx.resume().catch(() => {});
    const analyser = () => { const a = ctx.createAnalyser(); a.fftSize = 1024; return a; };
    this.originals = ctx.createGain(); // every original joins here
    this.gain = ctx.createGain(); // the ducking
    this.origIn = analyser(); this.origOut = analyser();
    this.translation = ctx.createGain();
    this.ttsLevel = analyser();
    this.originals.connect(this.origIn);
    this.originals.connect(this.gain).connect(this.origOut).connect(ctx.destination);
    this.same = ctx.createGain(); // speakers of your language: ducked, never muted
    this.sameGain = ctx.createGain();
    this.same.connect(this.sameGain).connect(ctx.destination);
    this.translation.connect(this.ttsLevel).connect(ctx.destination);
    this.buf = new Float32Array(1024);
    this.duck = duck; this.mute = mute;
    this.lastLoud = -Infinity; this.playing = false;
    this.inputs = new Map();
    this.samples = []; // {t, tts, orig, out, gain, playing}: levels every 50 ms, never sent anywhere
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  // A remote audio track: kind "original", "same" (a speaker of your language) or "translation".
  add(id, mediaStreamTrack, kind) {
    this.remove(id);
    const stream = new MediaStream([mediaStreamTrack]);
    // Chromium feeds a remote WebRTC track to WebAudio only while a media element plays it.
    const el = new Audio(); el.muted = true; el.srcObject = stream; el.play().catch(() => {});
    const src = this.ctx.createMediaStreamSource(stream);
    src.connect(kind === "translation" ? this.translation : kind === "same" ? this.same : this.originals);
    this.inputs.set(id, { el, src, kind });
  }

  remove(id) {
    const input = this.inputs.get(id);
    if (!input) return;
    input.src.disconnect(); input.el.srcObject = null;
    this.inputs.delete(id);
  }

  set({ duck, mute }) {
    if (duck !== undefined) this.duck = duck;
    if (mute !== undefined) this.mute = mute;
    this.tick();
  }

  tick() {
    const now = performance.now();
    const tts = rms(this.ttsLevel, this.buf);
    if (tts > PLAYING_RMS) this.lastLoud = now;
    this.playing = now - this.lastLoud < HOLD_MS;
    // Down quickly when the translation starts, back up gently after it ends.
    for (const [node, target] of [[this.gain, originalsGain(this)], [this.sameGain, originalsGain(this, true)]]) {
      node.gain.setTargetAtTime(target, this.ctx.currentTime, target < node.gain.value ? 0.03 : 0.15);
    }
    this.samples.push({ t: Date.now(), tts, orig: rms(this.origIn, this.buf), out: rms(this.origOut, this.buf),
      gain: this.gain.gain.value, playing: this.playing });
    if (this.samples.length > KEEP_SAMPLES) this.samples.splice(0, this.samples.length - KEEP_SAMPLES);
  }

  async close() {
    clearInterval(this.timer);
    for (const id of [...this.inputs.keys()]) this.remove(id);
    await this.ctx.close().catch(() => {});
  }
}
