"""Speech benchmark: local STT quality and latency, engine-level and through the whole service.

Engine level (per model, base and tiny.en): LibriVox clips (Debian pocketsphinx-testdata) are fed
at real-time pace by a producer thread to a WhisperStream run by a consumer thread, as the speech
process does. Prints WER, real-time factor (decode time / audio time), and speech end → final
(speech end = the wall time the last voiced chunk was pushed) p50/p95.

Service level (`--e2e`): the embedded service is started on 127.0.0.1; one speaker streams the
clips over Socket.IO in 40 ms chunks at real-time pace while a Spanish listener measures speech
end → translated-message, split into speech end → transcript received (STT), received → emitted
(store, fan-out, translation) and emitted → client. A third client measures Socket.IO ack
round trips (`ping`) while two speakers stream.

    .venv/bin/python bench/stt.py [--repeat 4] [--models base,tiny.en] [--e2e]
"""
from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines.stt.whisper import WhisperSTT  # noqa: E402
from tests.test_stt_local import clips, normalize, wer  # noqa: E402

CHUNK = 16000 * 2 * 40 // 1000  # 40 ms of 16 kHz PCM16


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def engine_level(model: str, repeat: int) -> dict[str, Any]:
    stt = WhisperSTT.from_env(model)
    t0 = time.perf_counter()
    stt.start()
    load_s = time.perf_counter() - t0
    data = clips() * repeat
    silence = b"\0" * 16000  # 0.5 s pause after each sentence
    inbox: queue.Queue[bytes | None] = queue.Queue()

    def produce() -> None:
        start = time.perf_counter()
        sent = 0.0
        for pcm, _ in data:
            for buf in (pcm, silence):
                for i in range(0, len(buf), CHUNK):
                    inbox.put(buf[i:i + CHUNK])
                    sent += 0.04
                    time.sleep(max(0.0, start + sent - time.perf_counter()))
        inbox.put(None)

    stream = stt.stream("en", "bench")
    finals: list[tuple[Any, float]] = []
    decode_ms: list[float] = []
    threading.Thread(target=produce, daemon=True).start()
    while (chunk := inbox.get()) is not None:
        for e in stream.push(chunk):
            decode_ms.append(e.decode_ms)
            if e.kind == "final":
                finals.append((e, time.time() * 1000))
    for e in stream.flush():
        finals.append((e, time.time() * 1000))
    hyp = normalize(" ".join(e.text for e, _ in finals))
    ref = normalize(" ".join(r for _, r in data))
    edits, words = wer(ref, hyp)
    audio_s = sum(len(p) for p, _ in data) / 32000
    lat = [t - e.speech_end_at for e, t in finals if e.speech_end_at]
    final_decode = [e.decode_ms for e, _ in finals]
    return {"model": model, "load_s": round(load_s, 2), "utterances": len(data),
            "finals": len(finals), "wer": round(100 * edits / words, 2),
            "rtf_all_decodes": round(sum(decode_ms) / 1000 / audio_s, 3), "decodes": len(decode_ms),
            "final_decode_ms_p50": round(pct(final_decode, 50)),
            "end_to_final_ms_p50": round(pct(lat, 50)), "end_to_final_ms_p95": round(pct(lat, 95))}


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
        data = clips() * repeat
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
        two = [threading.Thread(target=speak, args=(p, clips()[:3])) for p in (a, c)]
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
    ap.add_argument("--repeat", type=int, default=4, help="times the 5 LibriVox clips are played")
    ap.add_argument("--models", default="base,tiny.en")
    ap.add_argument("--e2e", action="store_true", help="also measure through the running service")
    args = ap.parse_args()
    for model in filter(None, args.models.split(",")):
        print("engine", engine_level(model, args.repeat), flush=True)
    if args.e2e:
        print("service", service_level(args.repeat), flush=True)


if __name__ == "__main__":
    main()
