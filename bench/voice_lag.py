"""Lag control for translated speech: what speeding up keeps of the meaning, and what skipping costs.

When a language's track falls behind a fast speaker, the agent can play its queued lines faster
(sox `tempo`, pitch kept: agent.voice_out.tempo) or skip the oldest ones. This measures how much a
listener still understands at each speed: real sentences are synthesized by the local voices
(piper for English, espeak-ng for Spanish), sped up exactly as the agent does, and transcribed by
local Whisper; the word error rate against the text is the proxy for "meaning kept" (an upper
bound on what a listener loses: a person understands fast speech better than Whisper `base`).
Skipping a line loses all of its words (100 % for that line); its caption stays on screen.

English sentences: the LibriVox and card-name references of bench/speech_corpus.py and the English
telephone prompts' references (asterisk-en); Spanish: the Spanish prompts' (asterisk-es); of the
prompts, every `--every`-th, those of three words or more.

    .venv/bin/python bench/voice_lag.py [--speeds 1,1.2,1.3,1.4,1.6,2] [--every 8]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import speech_corpus as corpus  # noqa: E402


def sentences(every: int) -> dict[str, list[str]]:
    def prompts(lang: str) -> list[str]:
        return [ref for i, ref in enumerate(sorted(corpus.asterisk_refs(lang).values())) if i % every == 0]

    en = [c.ref for c in corpus.load(["librivox", "cards"]) if c.ref] + prompts("en")
    chosen = {"en": en, "es": prompts("es")}
    return {lang: [s for s in texts if len(s.split()) >= 3] for lang, texts in chosen.items()}


def run(speeds: list[float], every: int) -> dict[str, Any]:
    import numpy as np
    import soxr

    from agent.connection import Voices
    from agent.voice_out import RATE, tempo, to_pcm
    from core.settings import Settings
    from engines.providers.local import recogniser

    settings = Settings.from_env()
    voices = Voices(settings)
    whisper = recogniser(settings.local, settings.var_dir)
    whisper.start()
    out: dict[str, Any] = {"speeds": speeds}
    for lang, texts in sentences(every).items():
        audio = []
        for text in texts:
            synthesis, _ = voices.speak(text, lang, None, "local")
            audio.append((text, to_pcm(synthesis.wav), synthesis.engine))
        rows = []
        for speed in speeds:
            edits = words = 0
            seconds = 0.0
            for text, pcm, _ in audio:
                fast = tempo(pcm, speed)
                seconds += len(fast) / RATE
                pcm16 = np.asarray(soxr.resample(fast, RATE, 16000), dtype=np.int16).tobytes()
                hyp = whisper.transcribe_whole(pcm16, lang)
                e, w = corpus.wer(text, hyp, lang)
                edits, words = edits + e, words + w
            rows.append({"speed": speed, "wer": round(100 * edits / words, 1), "audio_s": round(seconds, 1)})
            print(lang, rows[-1], flush=True)
        out[lang] = {"sentences": len(texts), "words": words, "voice": audio[0][2] if audio else None,
                     "by_speed": rows}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speeds", default="1,1.2,1.3,1.4,1.6,2")
    ap.add_argument("--every", type=int, default=8, help="every n-th Spanish telephone prompt")
    args = ap.parse_args()
    result = run([float(x) for x in args.speeds.split(",")], args.every)
    print(json.dumps(result, indent=2), flush=True)
    out = ROOT / "bench" / "results" / "voice_lag.json"
    out.write_text(json.dumps(dict(result, date=time.strftime("%Y-%m-%d")), indent=2) + "\n")


if __name__ == "__main__":
    main()
