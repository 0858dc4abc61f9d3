"""LiveKit benchmark: speech end → translated-message at a listener, through the real media plane.

A livekit-server and the embedded service (its speech process is the LiveKit agent) are started on
127.0.0.1. A participant made with the LiveKit Python SDK publishes real recordings
(bench/speech_corpus.py: LibriVox, speaker-test's "Front … Left", card names, telephone prompts) as
a microphone track at real-time pace, one second of silence between them; a Spanish Socket.IO
listener receives the translations. WER is over all captions against all references; loops are
captions that repeat themselves.

Speech end is known from the WAV: the last 10 ms frame above 5 % of the clip's peak. Its wall time
is taken when that frame is handed to the LiveKit SDK; the caption measured is the first after it
(a recording's last phrase). Stages per utterance:
  audio → endpoint  WAV speech end → the agent's VAD marks the end (transport + 256-640 ms pause)
  STT + bridge      that mark → the app has the final (Whisper decode, the signed POST)
  app               final received → translated-message emitted (store, fan-out, Apertium)
  delivery          emitted → the listener's Socket.IO client

    .venv/bin/python bench/livekit_e2e.py [--sets librivox,alsa,cards,asterisk-en] [--asterisk-every 16]
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
from tests import support  # noqa: E402
from tests.support.livekit_client import LkParticipant, speech_end  # noqa: E402

SILENCE = b"\0" * 32000


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def run(sets: list[str], every: int, repeat: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="lt-bench-lk-"))
    lk_proc, lk_env = support.start_livekit(log_dir)
    env = support.base_env(log_dir / "var", SPEECH_AUTOSTART="1", **lk_env)
    support.migrate(env)
    web = support.start_web(env, log_dir)
    peers: list[support.Peer] = []
    mic: LkParticipant | None = None
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        ann, bob = support.room_with(web.url, peers, ("Ann", "en"), ("Bob", "es"))  # type: ignore[attr-defined]
        assert ann.call("start-voice-session", {"languageCode": "en"})["ok"]
        ready = ann.wait_for("voice-session-ready")[0]
        mic = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
        mic.publish()
        t0 = time.monotonic()
        mic.wait_for_agent()
        agent_join_s = time.monotonic() - t0
        recordings = corpus.load(sets, asterisk_every=every) * repeat
        pcm, offsets = bytearray(SILENCE), []
        for clip in recordings:
            offsets.append(len(pcm) + speech_end(clip.pcm))
            pcm += clip.pcm + SILENCE
        marks = mic.play(bytes(pcm), marks={o: 0.0 for o in offsets})
        msgs = support.when_quiet(lambda: bob.got("translated-message"), quiet_s=4, timeout=90)
        arrivals = {d["id"]: t for e, d, t in bob.events if e == "translated-message"}
        msgs.sort(key=lambda m: arrivals[m["id"]])
        rows = []
        for offset in offsets:  # each recording's last phrase: the first caption after its end
            end = marks[offset]
            m = next((m for m in msgs if arrivals[m["id"]] > end), None)
            if m is None:
                continue
            t = m["timings"]
            rows.append({"total": arrivals[m["id"]] - end, "endpoint": (t["speechEnd"] or end) - end,
                         "stt_bridge": t["received"] - (t["speechEnd"] or end),
                         "app": t["emitted"] - t["received"], "delivery": arrivals[m["id"]] - t["emitted"]})
        hyp = " ".join(m["originalText"] for m in msgs)
        edits, words = corpus.wer(" ".join(c.ref or "" for c in recordings), hyp)
        out: dict[str, Any] = {"recordings": len(recordings), "sets": sets, "translated": len(msgs),
                               "agent_join_s": round(agent_join_s, 2), "wer": round(100 * edits / words, 2),
                               "loops": sum(corpus.is_loop("", m["originalText"]) for m in msgs),
                               "measured": len(rows)}
        for k in ("total", "endpoint", "stt_bridge", "app", "delivery"):
            vals = [r[k] for r in rows]
            out[f"{k}_ms"] = {"p50": round(pct(vals, 50)), "p95": round(pct(vals, 95))}
        return out
    finally:
        if mic is not None:
            mic.close()
        for p in peers:
            p.close()
        web.stop()
        lk_proc.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="librivox,alsa,cards,asterisk-en")
    ap.add_argument("--asterisk-every", type=int, default=16, help="every n-th telephone prompt")
    ap.add_argument("--repeat", type=int, default=1, help="times the recordings are played")
    args = ap.parse_args()
    result = run(args.sets.split(","), args.asterisk_every, args.repeat)
    print(json.dumps(result, indent=2), flush=True)
    out = ROOT / "bench" / "results" / "livekit_e2e.json"
    out.write_text(json.dumps(dict(result, date=time.strftime("%Y-%m-%d")), indent=2) + "\n")


if __name__ == "__main__":
    main()
