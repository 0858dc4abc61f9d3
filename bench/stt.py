"""Speech benchmark: local STT quality and latency on real recorded human speech, engine-level and
through the whole service.

Engine level: every set of `bench/speech_corpus.py` (LibriVox readings, card names, speaker-test's
"Front … Left", telephone prompts in en/es/fr/it, long amateur-radio recordings; all real people;
by default the tuning sets — the held-out voices, `--sets heldout-es,heldout-fr,heldout-it,...`,
are for the final check of a change, never for choosing one)
is fed at real-time pace in 40 ms chunks by a producer thread to one WhisperStream per set, run by
a consumer thread as the speech process does, with a pause of 0.8-1.6 s between recordings (and
the pauses the speakers made inside them). Per set it prints:
  - streaming WER (each recording's finals against its reference, word-weighted over the set; a
    final belongs to the recording it starts in) and the whole-file WER of the same recordings
    (each decoded alone by faster-whisper over 30 s windows);
  - finals against recordings, and how many recordings did not come back as exactly one final;
  - stream_vs_whole: the edits between the stream's words and the whole-file decode's, per word of
    the latter (needs no reference: it is what the held-out prompts without one are scored on);
  - decoder loops: finals that repeat a word 4+ times or a 3+ word phrase back to back where the
    reference does not (no reference: a phrase three times); must be 0;
  - speech end → final p50/p95 (speech end = wall time the last voiced chunk was pushed);
  - the engine's own counters: decodes re-done because they looked like a loop, loops collapsed.

Service level (`--e2e`): the embedded service is started on 127.0.0.1; one speaker streams the
LibriVox clips over Socket.IO in 40 ms chunks at real-time pace while a Spanish listener measures
speech end → translated-message, split into speech end → transcript received (STT), received →
emitted (store, fan-out, translation) and emitted → client. A third client measures Socket.IO ack
round trips (`ping`) while two speakers stream.

    .venv/bin/python bench/stt.py [--windows fit,full] [--sets librivox,alsa,...]
                                  [--asterisk-every 8] [--heldout-every 8] [--pace 1.0]
                                  [--json out.json (with each recording's texts)] [--e2e]
"""
from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import speech_corpus as corpus  # noqa: E402
from engines.providers.local.whisper import WhisperSTT  # noqa: E402

CHUNK = 16000 * 2 * 40 // 1000  # 40 ms of 16 kHz PCM16
GAPS_S = (0.8, 1.2, 1.6, 1.0)  # pauses between recordings, in turn


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def stream_set(stt: WhisperSTT, clips: list[corpus.Clip], pace: float
               ) -> tuple[list[tuple[Any, float]], list[float]]:
    """Play the clips to one stream at `pace` × real time: (final event, wall ms received) and the
    stream time (ms) each clip starts at."""
    inbox: queue.Queue[bytes | None] = queue.Queue()
    starts, at = [], 0.0
    for i, clip in enumerate(clips):
        starts.append(at)
        at += (len(clip.pcm) + int(32000 * GAPS_S[i % len(GAPS_S)])) / 32

    def produce() -> None:
        start, sent = time.perf_counter(), 0.0
        for i, clip in enumerate(clips):
            buf = clip.pcm + b"\0" * int(32000 * GAPS_S[i % len(GAPS_S)])
            for j in range(0, len(buf), CHUNK):
                inbox.put(buf[j:j + CHUNK])
                sent += 0.04 / pace
                time.sleep(max(0.0, start + sent - time.perf_counter()))
        inbox.put(None)

    stream = stt.stream(clips[0].language, "bench")
    finals: list[tuple[Any, float]] = []
    threading.Thread(target=produce, daemon=True).start()
    while (chunk := inbox.get()) is not None:
        finals += [(e, time.time() * 1000) for e in stream.push(chunk) if e.kind == "final"]
    finals += [(e, time.time() * 1000) for e in stream.flush()]
    return finals, starts


PRE_ROLL_SLACK_MS = 400.0  # a final may start this much before its clip (the VAD's pre-roll)


def per_clip(clips: list[corpus.Clip], finals: list[tuple[Any, float]],
             starts: list[float]) -> list[list[str]]:
    """The finals' texts of each clip: a final belongs to the last clip starting before it does
    (clips are apart by 0.8 s or more of silence, more than any pause that ends an utterance)."""
    out: list[list[str]] = [[] for _ in clips]
    for e, _ in finals:
        i = max((k for k, s in enumerate(starts) if s <= e.start_ms + PRE_ROLL_SLACK_MS), default=0)
        out[i].append(e.text)
    return out


def score_set(name: str, clips: list[corpus.Clip], finals: list[tuple[Any, float]],
              whole: list[str] | None, starts: list[float] | None = None) -> dict[str, Any]:
    """WER of the finals and of the whole-file decodes, word-weighted over the recordings with a
    reference; with `starts`, per recording too (`clips`: name, finals, edits, whole-file edits)
    and `stream_vs_whole`: the edits between the stream's words and the whole-file decode's, per
    word of the latter, over every recording (no reference needed)."""
    lang = clips[0].language
    scored = [c for c in clips if c.ref is not None]
    out: dict[str, Any] = {"set": name, "recordings": len(clips),
                           "audio_s": round(sum(c.seconds for c in clips), 1), "finals": len(finals)}
    texts = per_clip(clips, finals, starts) if starts is not None else None
    if scored:
        refs = " ".join(c.ref or "" for c in scored)
        hyp = (" ".join(" ".join(t) for c, t in zip(clips, texts, strict=True) if c.ref is not None)
               if texts is not None else " ".join(e.text for e, _ in finals))
        edits, words = corpus.wer(refs, hyp, lang)
        out.update(words=words, wer=round(100 * edits / words, 2))
        if whole is not None:
            e2, _ = corpus.wer(refs, " ".join(t for c, t in zip(clips, whole, strict=True) if c.ref), lang)
            out["whole_file_wer"] = round(100 * e2 / words, 2)
    if texts is not None:
        out["recordings_not_one_final"] = sum(len(t) != 1 for t in texts)
        rows = []
        for i, (c, t) in enumerate(zip(clips, texts, strict=True)):
            row: dict[str, Any] = {"name": c.name, "ref": c.ref, "stream": t}
            if c.ref is not None:
                row["edits"] = corpus.wer(c.ref, " ".join(t), lang)[0]
            if whole is not None:
                row["whole"] = whole[i]
                if c.ref is not None:
                    row["whole_edits"] = corpus.wer(c.ref, whole[i], lang)[0]
                row["vs_whole"] = corpus.wer(whole[i], " ".join(t), lang)
            rows.append(row)
        out["_clips"] = rows
        if whole is not None:
            d = [r["vs_whole"] for r in rows]
            out["stream_vs_whole"] = round(100 * sum(e for e, _ in d) / max(1, sum(w for _, w in d)), 2)
    ref_of_loop = None if not scored else " ".join(c.ref or "" for c in scored)
    out["loops"] = sum(corpus.is_loop(ref_of_loop, e.text) for e, _ in finals)
    lat = [t - e.speech_end_at for e, t in finals if e.speech_end_at]
    out["end_to_final_ms"] = [round(pct(lat, 50)), round(pct(lat, 95))]
    out["_lat"] = lat
    return out


def engine_level(window: str, sets: list[str], every: int, pace: float,
                 heldout_every: int | None = None, stt: WhisperSTT | None = None) -> dict[str, Any]:
    if stt is None:
        from core.settings import Settings
        from engines.providers.local import recogniser
        settings = Settings.from_env()
        settings.local.whisper.window = window
        stt = recogniser(settings.local, settings.var_dir, "base")
    t0 = time.perf_counter()
    stt.start()
    load_s = time.perf_counter() - t0
    results = []
    for name in sets:
        clips = corpus.load([name], asterisk_every=every, heldout_every=heldout_every)
        whole = [stt.transcribe_whole(c.pcm, c.language) for c in clips] if window == "fit" else None
        before = dict(stt.status())
        finals, starts = stream_set(stt, clips, pace)
        row = score_set(name, clips, finals, whole, starts)
        after = stt.status()
        row["loop_checks"] = after["loop_checks"] - before["loop_checks"]
        row["loops_collapsed"] = after["loops_collapsed"] - before["loops_collapsed"]
        print("  ", {k: v for k, v in row.items() if not k.startswith("_")}, flush=True)
        results.append(row)
    lat = [x for r in results for x in r.pop("_lat")]
    return {"model": "base", "window": window, "load_s": round(load_s, 2), "sets": results,
            "loops": sum(r["loops"] for r in results),
            "end_to_final_ms": {"p50": round(pct(lat, 50)), "p95": round(pct(lat, 95)), "n": len(lat)}}


def service_level(repeat: int) -> dict[str, Any]:
    import tempfile

    from tests import support
    log_dir = Path(tempfile.mkdtemp(prefix="lt-bench-stt-"))
    env = support.base_env(log_dir, SPEECH_AUTOSTART="1")
    support.migrate(env)
    web = support.start_web(env, log_dir)
    peers: list[support.Peer] = []
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        url = web.url  # type: ignore[attr-defined]
        a, b, c = support.room_with(url, peers, ("Speaker", "en"), ("Oyente", "es"), ("Second", "en"))
        prober = support.Peer(url, "Prober", "en").connect()
        peers.append(prober)
        data = [(c.pcm, c.ref) for c in corpus.load(["librivox"])] * repeat
        silence = b"\0" * 16000

        def speak(p: support.Peer, items: list[tuple[bytes, str]]) -> None:
            assert p.call("start-speech", {"languageCode": "en"})["ok"]
            start, sent = time.perf_counter(), 0.0
            for pcm, _ in items:
                buf = pcm + silence
                for i in range(0, len(buf), CHUNK):
                    p.sio.emit("speech-data", buf[i:i + CHUNK])
                    sent += 0.04
                    time.sleep(max(0.0, start + sent - time.perf_counter()))
            assert p.call("stop-speech")["ok"]

        speak(a, data)
        msgs = b.wait_for("translated-message", count=len(data), timeout=120)
        arrivals = {d["id"]: t for e, d, t in b.events if e == "translated-message"}
        e2e, stt_part, server_part, delivery = [], [], [], []
        for m in msgs:
            t = m["timings"]
            if not t.get("speechEnd"):
                continue
            got = arrivals[m["id"]]
            e2e.append(got - t["speechEnd"])
            stt_part.append(t["received"] - t["speechEnd"])
            server_part.append(t["emitted"] - t["received"])
            delivery.append(got - t["emitted"])
        # Ack round trips while two speakers stream at once.
        rtts: list[float] = []
        two = [threading.Thread(target=speak, args=(p, data[:3])) for p in (a, c)]
        for t in two:
            t.start()
        while any(t.is_alive() for t in two):
            t0 = time.perf_counter()
            prober.call("ping")
            rtts.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.02)
        return {"utterances": len(msgs), "measured": len(e2e),
                "end_to_translated_ms": {"p50": round(pct(e2e, 50)), "p95": round(pct(e2e, 95))},
                "speech_end_to_transcript_ms": {"p50": round(pct(stt_part, 50)),
                                                "p95": round(pct(stt_part, 95))},
                "transcript_to_emit_ms": {"p50": round(pct(server_part, 50)),
                                          "p95": round(pct(server_part, 95))},
                "emit_to_client_ms": {"p50": round(pct(delivery, 50)), "p95": round(pct(delivery, 95))},
                "ack_rtt_two_sessions_ms": {"n": len(rtts), "p50": round(pct(rtts, 50), 1),
                                            "p99": round(pct(rtts, 99), 1),
                                            "mean": round(statistics.fmean(rtts), 1)}}
    finally:
        for p in peers:
            p.close()
        web.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", default="fit,full", help="STT_WINDOW settings to compare")
    ap.add_argument("--sets", default=",".join(corpus.TUNING_SETS),
                    help=f"default: the tuning sets; held out (never tune on them): "
                         f"{','.join(corpus.HELDOUT_SETS)}")
    ap.add_argument("--asterisk-every", type=int, default=8, help="every n-th telephone prompt (1: all)")
    ap.add_argument("--heldout-every", type=int, help="the same for the held-out sets (default: as above)")
    ap.add_argument("--pace", type=float, default=1.0, help="feed speed, x real time (latency needs 1)")
    ap.add_argument("--repeat", type=int, default=2, help="LibriVox plays for --e2e")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--e2e", action="store_true", help="also measure through the running service")
    args = ap.parse_args()
    report: dict[str, Any] = {"engine": []}
    for window in filter(None, args.windows.split(",")):
        print(f"engine window={window}", flush=True)
        res = engine_level(window, args.sets.split(","), args.asterisk_every, args.pace,
                           args.heldout_every)
        print("engine", {k: v for k, v in res.items() if k != "sets"}, flush=True)
        report["engine"].append(res)
    if args.e2e:
        report["service"] = service_level(args.repeat)
        print("service", report["service"], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
