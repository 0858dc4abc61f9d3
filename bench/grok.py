"""Grok benchmarks against the local fake of the xAI API (tests/support/fake_xai.py); no network.

`latency`: speech end → translated caption with Grok STT and Grok translation, through the whole
embedded service and the Socket.IO audio path, real recordings at real-time pace (one second of
room silence between them). The fake answers after `--stt-delay` / `--chat-delay` seconds, so what
is left is ours. Per utterance (wall clock, one machine):
  endpoint      WAV speech end → `audio.done` at the provider (our VAD's long pause, 640 ms, or
                with `--endpointing` the provider's `speech_final` after a 256 ms pause)
  provider STT  `audio.done` → `transcript.done` (the fake's answer time)
  ours (STT)    `transcript.done` → the translation request at the provider (our client, the speech
                process → web link, handle_transcript, the fan-out)
  provider MT   request → answer (the fake's answer time)
  ours (MT)     answer → translated-message at the listener's Socket.IO client
  overhead      ours (STT) + ours (MT): what we add on top of the provider

`vad`: premium audio seconds saved by local VAD gating on real recordings (bench/speech_corpus.py):
the audio a speaker's microphone carries vs what GrokStream sends, in two shapes — the recordings
with one second of pause between them, and a meeting where the speaker talks a quarter of the time
(three times each clip's length of microphone noise after it). Also whether every clip's speech
(its 10 ms frames above 5 % of the clip's peak) was sent: what is not sent is not billed, and
must not be lost either.

    .venv/bin/python bench/grok.py latency [--stt-delay 0.15 --chat-delay 0.3] [--endpointing] [--repeat 2]
    .venv/bin/python bench/grok.py vad [--sets librivox,cards,alsa,asterisk-en]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import speech_corpus as corpus  # noqa: E402
from bench.livekit_e2e import pct  # noqa: E402
from tests import support  # noqa: E402
from tests.support.fake_xai import FakeXAI  # noqa: E402
from tests.support.livekit_client import speech_end  # noqa: E402

SILENCE = b"\0" * 32000


def latency(sets: list[str], repeat: int, stt_delay: float, chat_delay: float,
            endpointing: bool) -> dict[str, Any]:
    import requests

    clips = [c for c in corpus.load(sets) if c.language == "en"] * repeat
    fake = FakeXAI().start()
    log_dir = Path(tempfile.mkdtemp(prefix="lt-bench-grok-"))
    env = support.base_env(log_dir / "var", SPEECH_AUTOSTART="1", XAI_API_KEY=fake.key,
                           XAI_BASE_URL=fake.base_url, STT_ENGINES="grok,local",
                           TRANSLATION_ENGINES="grok,local")
    support.migrate(env)
    web = support.start_web(env, log_dir)
    peers: list[support.Peer] = []
    rows: list[dict[str, float]] = []
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        ann, bob = support.room_with(web.url, peers, ("Ann", "en"), ("Bob", "es"))  # type: ignore[attr-defined]
        for p, prefs in ((ann, {"sttEngine": "grok"}), (bob, {"translationEngine": "grok"})):
            assert requests.patch(web.url + "/api/me", json=prefs, headers=p.headers(), timeout=10).ok
        fake.script = [c.ref or "hello" for c in clips]
        fake.delays = {"stt": stt_delay, "chat": chat_delay}
        fake.endpointing = endpointing
        assert ann.call("start-speech", {"languageCode": "en"})["ok"]
        for i, clip in enumerate(clips):
            ended_at = speak(ann, clip.pcm)
            msg = bob.wait_for("translated-message", count=i + 1, timeout=60)[i]
            got = [t for e, d, t in bob.events if e == "translated-message" and d is msg][0] / 1000
            turn = fake.stt_turns[i]
            chat = fake.chat_requests[i]
            rows.append({
                "endpoint": turn["done_at"] - ended_at,
                "provider_stt": turn["answered_at"] - turn["done_at"],
                "ours_stt": chat["at"] - turn["answered_at"],
                "provider_mt": chat["answered_at"] - chat["at"],
                "ours_mt": got - chat["answered_at"],
                "total": got - ended_at,
            })
            rows[-1]["overhead"] = rows[-1]["ours_stt"] + rows[-1]["ours_mt"]
        ann.call("stop-speech")
    finally:
        for p in peers:
            p.close()
        web.stop()
        fake.stop()
    return summarize(rows, {"utterances": len(rows), "stt_delay_s": stt_delay,
                            "chat_delay_s": chat_delay, "provider_endpointing": endpointing})


def speak(peer: support.Peer, pcm: bytes) -> float:
    """`pcm` on the peer's speech session at real-time pace, with a second of room silence before
    and after it; the wall-clock time its speech ended (its last loud frame was sent)."""
    audio = SILENCE + pcm + SILENCE
    end = len(SILENCE) + speech_end(pcm)
    step = 32 * 40
    ended_at = 0.0
    start = time.monotonic()
    for k, j in enumerate(range(0, len(audio), step)):
        peer.sio.emit("speech-data", audio[j:j + step])
        if not ended_at and j + step >= end:
            ended_at = time.time()
        time.sleep(max(0.0, start + (k + 1) * 0.04 - time.monotonic()))
    return ended_at


def summarize(rows: list[dict[str, float]], head: dict[str, Any]) -> dict[str, Any]:
    out = dict(head)
    for key in rows[0] if rows else ():
        ms = [r[key] * 1000 for r in rows]
        out[key] = {"p50_ms": round(pct(ms, 50), 1), "p95_ms": round(pct(ms, 95), 1),
                    "max_ms": round(max(ms), 1)}
    return out


def vad(sets: list[str]) -> dict[str, Any]:
    import numpy as np

    from engines.providers.xai.config import XAIConfig
    from engines.providers.xai.stt import GrokStream, GrokSTT
    from engines.stt.base import StreamOptions

    class Measured(GrokStream):
        """GrokStream recording where in the stream each sent chunk lies (ms)."""

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.sent_at: list[tuple[float, float]] = []

        def _send(self, audio: bytes) -> None:
            self.sent_at.append((self._audio_ms - len(audio) / 32, self._audio_ms))
            super()._send(audio)

    fake = FakeXAI().start()
    clips = corpus.load(sets)
    rng = np.random.default_rng(7)
    out: dict[str, Any] = {"clips": len(clips)}
    try:
        stt = GrokSTT(XAIConfig(api_key=fake.key, base_url=fake.base_url))
        shapes = (("recordings, 1 s pauses", lambda n: 32000), ("meeting, speaks 25 %", lambda n: 3 * n))
        for shape, gap in shapes:
            fake.reset()
            loud_ms: list[float] = []  # stream times of each loud 10 ms frame of speech
            parts: list[bytes] = []
            at = 0.0
            for c in clips:
                a = np.abs(np.frombuffer(c.pcm, dtype=np.int16).astype(np.int32))
                peak = max(1, int(a.max()))
                frames = a[:len(a) // 160 * 160].reshape(-1, 160).max(axis=1)
                loud_ms += [at + 10 * k for k in np.nonzero(frames > 0.05 * peak)[0]]
                n = gap(len(c.pcm))
                noise = rng.normal(0, 30, n // 2).astype(np.int16).tobytes()  # a quiet room's mic
                parts += [c.pcm, noise]
                at += (len(c.pcm) + len(noise)) / 32
            stream = Measured(stt, "en", "b", StreamOptions())
            audio = b"".join(parts)
            for i in range(0, len(audio), 32 * 40):
                stream.push(audio[i:i + 32 * 40])
            stream.flush()
            sent = _merge(stream.sent_at)
            missed = [t for t in loud_ms if not any(a0 <= t and t + 10 <= b0 for a0, b0 in sent)]
            heard_s, sent_s = stream.heard_ms / 1000, stream.sent_ms / 1000
            out[shape] = {"heard_s": round(heard_s, 1), "sent_s": round(sent_s, 1),
                          "saved_s": round(heard_s - sent_s, 1),
                          "saved_pct": round(100 * (heard_s - sent_s) / heard_s, 1),
                          "turns": len(fake.stt_turns), "loud_speech_ms": 10 * len(loud_ms),
                          "loud_speech_ms_not_sent": 10 * len(missed)}
    finally:
        fake.stop()
    return out


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--sets", default="librivox,alsa,cards")
    lat.add_argument("--repeat", type=int, default=1)
    lat.add_argument("--stt-delay", type=float, default=0.0)
    lat.add_argument("--chat-delay", type=float, default=0.0)
    lat.add_argument("--endpointing", action="store_true",
                     help="the fake marks speech_final after the pause asked for, as xAI does")
    v = sub.add_parser("vad")
    v.add_argument("--sets", default="librivox,cards,alsa,asterisk-en")
    for p in (lat, v):
        p.add_argument("--json", type=Path)
    args = parser.parse_args()
    sets = args.sets.split(",")
    result = (latency(sets, args.repeat, args.stt_delay, args.chat_delay, args.endpointing)
              if args.what == "latency" else vad(sets))
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
