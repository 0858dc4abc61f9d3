"""Google Cloud benchmarks against the local fake gRPC server (tests/support/fake_google.py); no network.

`latency`: speech end → translated caption → translated voice with Google STT, translation and
TTS, through the whole embedded service and the Socket.IO audio path, real recordings at real-time
pace (one second of room silence between them). The fake answers after `--stt-delay`, `--mt-delay`
and `--tts-delay` seconds, so what is left is ours. Per utterance (wall clock, one machine):
  endpoint      WAV speech end → half-close at the provider (our VAD's long pause, 640 ms, or a
                256 ms one once Google has settled the words), for information
  provider STT  WAV speech end → the final at the provider (the fake settles the words after
                500 ms of quiet, as Google's endpointing does, then waits `--stt-delay`)
  ours (STT)    the final → the translation request at the provider (waiting for our VAD's
                half-close when it comes after Google's final, the stream's end, the speech
                process → web link, handle_transcript, the fan-out, and — embedded — the web
                process handing the request to the speech process, since gRPC cannot run under
                eventlet)
  provider MT   request → answer (the fake's)
  ours (MT)     answer → translated-message at the listener's Socket.IO client
  overhead      ours (STT) + ours (MT): what we add on top of the provider for the caption
  ours (TTS)    MT answer → synthesis request, plus synthesis answer → tts-audio at the listener
  provider TTS  request → answer (the fake's)

`calls`: our engines alone, each call's time minus the fake's answer time: a translation (one
target, and three in parallel), a synthesis, and a speech stream's final after its half-close.

    .venv/bin/python bench/google_cloud.py latency [--stt-delay 0.15 --mt-delay 0.1 --tts-delay 0.2]
        [--repeat 2]
    .venv/bin/python bench/google_cloud.py calls [--n 50]
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
from bench.grok import speak, summarize  # noqa: E402
from bench.livekit_e2e import pct  # noqa: E402
from tests import support  # noqa: E402
from tests.support.fake_google import FakeGoogle  # noqa: E402


def latency(sets: list[str], repeat: int, stt_delay: float, mt_delay: float,
            tts_delay: float) -> dict[str, Any]:
    import requests

    clips = [c for c in corpus.load(sets) if c.language == "en"] * repeat
    fake = FakeGoogle().start()
    for c in clips:
        fake.register(c.pcm, c.ref or "hello")
    log_dir = Path(tempfile.mkdtemp(prefix="lt-bench-google-"))
    creds = log_dir / "credentials.json"
    creds.write_text(json.dumps({"type": "service_account", "project_id": "bench"}))
    env = support.base_env(log_dir / "var", SPEECH_AUTOSTART="1", GOOGLE_APPLICATION_CREDENTIALS=str(creds),
                           GOOGLE_API_ENDPOINT=fake.endpoint, STT_ENGINES="google,local",
                           TRANSLATION_ENGINES="google,local", TTS_ENGINES="google,local")
    support.migrate(env)
    web = support.start_web(env, log_dir)
    peers: list[support.Peer] = []
    rows: list[dict[str, float]] = []
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        ann, bob = support.room_with(web.url, peers, ("Ann", "en"), ("Bob", "es"))  # type: ignore[attr-defined]
        for p, prefs in ((ann, {"sttEngine": "google"}),
                         (bob, {"translationEngine": "google", "ttsEngine": "google", "ttsEnabled": True})):
            assert requests.patch(web.url + "/api/me", json=prefs, headers=p.headers(), timeout=10).ok
        fake.delays = {"stt": stt_delay, "translate": mt_delay, "tts": tts_delay}
        assert ann.call("start-speech", {"languageCode": "en"})["ok"]
        streams_before = 0
        for i, clip in enumerate(clips):
            fake.translate = lambda text, target, i=i: f"<{target}:{i}> {text}"  # a new text: no cache
            ended_at = speak(ann, clip.pcm)
            msg = bob.wait_for("translated-message", count=i + 1, timeout=60)[i]
            audio = bob.wait_for("tts-audio", count=i + 1, timeout=60)[i]
            got = [t for e, d, t in bob.events if e == "translated-message" and d is msg][0] / 1000
            heard = [t for e, d, t in bob.events if e == "tts-audio" and d is audio][0] / 1000
            stream = [s for s in fake.stt_streams[streams_before:] if s["finals"]][-1]
            streams_before = len(fake.stt_streams)
            mt = fake.translate_requests[i]
            tts = fake.tts_requests[i]
            assert stream["half_closed_at"] is not None
            rows.append({
                "endpoint": stream["half_closed_at"] - ended_at,
                "provider_stt": stream["answered_at"] - ended_at,
                "ours_stt": mt["at"] - stream["answered_at"],
                "provider_mt": mt["answered_at"] - mt["at"],
                "ours_mt": got - mt["answered_at"],
                "ours_tts": (tts["at"] - mt["answered_at"]) + (heard - tts["answered_at"]),
                "provider_tts": tts["answered_at"] - tts["at"],
                "total_caption": got - ended_at,
                "total_voice": heard - ended_at,
            })
            rows[-1]["overhead"] = rows[-1]["ours_stt"] + rows[-1]["ours_mt"]
        ann.call("stop-speech")
    finally:
        for p in peers:
            p.close()
        web.stop()
        fake.stop()
    return summarize(rows, {"utterances": len(rows), "stt_delay_s": stt_delay, "mt_delay_s": mt_delay,
                            "tts_delay_s": tts_delay, "path": "embedded, Socket.IO audio"})


def calls(n: int) -> dict[str, Any]:
    """Each engine call minus the fake's own answer time (its delays are 0 here)."""
    from engines.providers.google.config import GoogleConfig
    from engines.providers.google.stt import GoogleSTT
    from engines.providers.google.translation import GoogleTranslator
    from engines.providers.google.tts import GoogleTTS

    fake = FakeGoogle().start()
    cfg = GoogleConfig(endpoint=fake.endpoint, project="bench")
    rows: dict[str, list[float]] = {"translate_1": [], "translate_3": [], "tts": [], "stt_final": []}
    try:
        tr, tts, stt = GoogleTranslator(cfg), GoogleTTS(cfg), GoogleSTT(cfg)
        tr.translate("warm up", "en", "es")
        tts.synthesize("warm up", "en")
        clip = next(c for c in corpus.load(["librivox"]) if c.language == "en")
        fake.register(clip.pcm, clip.ref or "")
        for i in range(n):
            before = len(fake.translate_requests)
            t0 = time.time()
            tr.translate(f"Hello number {i}", "en", "es")
            r = fake.translate_requests[before]
            rows["translate_1"].append((time.time() - t0) - (r["answered_at"] - r["at"]))
            t0 = time.time()
            tr.translate_many(f"Hello again {i}", "en", ["es", "fr", "de"])
            rs = fake.translate_requests[before + 1:]
            rows["translate_3"].append((time.time() - t0) - max(r["answered_at"] - r["at"] for r in rs))
            t0 = time.time()
            tts.synthesize(f"Hello {i}.", "en")
            r = fake.tts_requests[-1]
            rows["tts"].append((time.time() - t0) - (r["answered_at"] - r["at"]))
        for _ in range(max(3, n // 10)):
            turn = stt.turn("en", ())
            turn.send(clip.pcm)
            time.sleep(0.2)
            turn.finish()
            t0 = time.time()
            while turn.result is None:
                turn.check()
                time.sleep(0.001)
            s = fake.stt_streams[-1]
            rows["stt_final"].append((time.time() - max(t0, s["half_closed_at"] or t0))
                                     - (s["answered_at"] - (s["half_closed_at"] or s["answered_at"])))
            turn.abort()
    finally:
        fake.stop()
    out: dict[str, Any] = {"calls": n}
    for key, secs in rows.items():
        ms = [x * 1000 for x in secs]
        out[key] = {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p95_ms": round(pct(ms, 95), 2),
                    "max_ms": round(max(ms), 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    la = sub.add_parser("latency")
    la.add_argument("--sets", default="librivox")
    la.add_argument("--repeat", type=int, default=1)
    la.add_argument("--stt-delay", type=float, default=0.15)
    la.add_argument("--mt-delay", type=float, default=0.1)
    la.add_argument("--tts-delay", type=float, default=0.2)
    ca = sub.add_parser("calls")
    ca.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    if args.mode == "latency":
        out = latency(args.sets.split(","), args.repeat, args.stt_delay, args.mt_delay, args.tts_delay)
    else:
        out = calls(args.n)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
