"""LiveKit benchmark: speech end → translated-message at a listener, through the real media plane.

A livekit-server and the embedded service (its speech process is the LiveKit agent) are started on
127.0.0.1. A participant made with the LiveKit Python SDK publishes the LibriVox clips (Debian
pocketsphinx-testdata) as a microphone track at real-time pace, one second of silence between
them; a Spanish Socket.IO listener receives the translations.

Speech end is known from the WAV: the last 10 ms frame above 5 % of the clip's peak. Its wall time
is taken when that frame is handed to the LiveKit SDK. Stages per utterance:
  audio → endpoint  WAV speech end → the agent's VAD marks the end (transport + 256 ms of silence)
  STT + bridge      that mark → the app has the final (Whisper decode, the signed POST)
  app               final received → translated-message emitted (store, fan-out, Apertium)
  delivery          emitted → the listener's Socket.IO client

    .venv/bin/python bench/livekit_e2e.py [--repeat 4]
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

from tests import support  # noqa: E402
from tests.livekit_client import LkParticipant, speech_end  # noqa: E402
from tests.test_stt_local import clips, normalize, wer  # noqa: E402

SILENCE = b"\0" * 32000


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def run(repeat: int) -> dict[str, Any]:
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
        data = clips() * repeat
        pcm, offsets, refs = bytearray(SILENCE), [], []
        for clip, ref in data:
            offsets.append(len(pcm) + speech_end(clip))
            refs.append(ref)
            pcm += clip + SILENCE
        marks = mic.play(bytes(pcm), marks={o: 0.0 for o in offsets})
        msgs = bob.wait_for("translated-message", count=len(data), timeout=60)
        arrivals = {d["id"]: t for e, d, t in bob.events if e == "translated-message"}
        unused = list(range(len(data)))
        rows = []
        for m in msgs:
            hyp = normalize(m["originalText"])
            scores = [(wer(normalize(refs[i]), hyp)[0] / max(1, len(normalize(refs[i]))), i) for i in unused]
            score, i = min(scores)
            unused.remove(i)
            t = m["timings"]
            end = marks[offsets[i]]
            rows.append({"wer": score, "total": arrivals[m["id"]] - end,
                         "endpoint": (t["speechEnd"] or end) - end,
                         "stt_bridge": t["received"] - (t["speechEnd"] or end),
                         "app": t["emitted"] - t["received"], "delivery": arrivals[m["id"]] - t["emitted"]})
        out: dict[str, Any] = {"utterances": len(data), "translated": len(msgs),
                               "agent_join_s": round(agent_join_s, 2),
                               "mean_wer": round(sum(r["wer"] for r in rows) / len(rows), 3)}
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
    ap.add_argument("--repeat", type=int, default=4,
                    help="times the 5 LibriVox clips are played (20 utterances at 4)")
    args = ap.parse_args()
    result = run(args.repeat)
    print(json.dumps(result, indent=2), flush=True)
    out = ROOT / "bench" / "results" / "livekit_e2e.json"
    out.write_text(json.dumps(dict(result, date=time.strftime("%Y-%m-%d")), indent=2) + "\n")


if __name__ == "__main__":
    main()
