// The page's microphone worklet (web/src/main.js startSocketAudio): 40 ms chunks of 16-bit PCM at
// the context's rate, each with its RMS level, posted to the page.
class Chunker extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Int16Array(Math.round(sampleRate * 0.04)); this.n = 0; this.sq = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      const s = Math.max(-1, Math.min(1, ch[i]));
      this.buf[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff; this.sq += s * s;
      if (this.n === this.buf.length) {
        this.port.postMessage({ pcm: this.buf.buffer.slice(0), rms: Math.sqrt(this.sq / this.n) });
        this.n = 0; this.sq = 0;
      }
    }
    return true;
  }
}
registerProcessor("pcm-chunker", Chunker);
