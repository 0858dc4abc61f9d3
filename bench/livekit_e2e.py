"""LiveKit benchmark: speech end → translated caption, and → translated speech, at listeners,
through the real media plane.

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
Translated speech: a second Spanish listener joins the LiveKit room listen-only (LiveKit SDK),
subscribes to the agent's `tts-es` track and measures what it receives, 20 ms frame by frame:
  audio             WAV speech end → the first sound of that utterance's line on `tts-es` (RMS
                    above 300, at or after the agent's `playing` notice for it)
  caption → line    translated-message emitted → the agent starts the line (synthesis, queue)
Lines wait for the ones before them: `audio` when the track was idle is given apart.

`--minutes N` instead plays the recordings back to back (0.3 s apart) for N minutes, as a speaker
who never stops (`--faster 1.3`: a fast talker, the recordings sped up with sox `tempo`), and
reports how far the Spanish speech is behind (each line's lag when it starts, per minute), how many
lines were sped up or skipped, and the backlog at the end. `--env VOICE_SKIP_S=100000` (and
`VOICE_SPEEDUP_S`) turns lag control off, for comparison.

    .venv/bin/python bench/livekit_e2e.py [--sets librivox,alsa,cards,asterisk-en] [--asterisk-every 16]
    .venv/bin/python bench/livekit_e2e.py --minutes 5 [--faster 1.3] [--env KEY=VALUE ...]
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
from tests.support.livekit_client import LOUD, LkParticipant, speech_end  # noqa: E402

SILENCE = b"\0" * 32000


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def _lines(lk: LkParticipant) -> list[tuple[float, dict[str, Any]]]:
    """The agent's `playing` notices received: (epoch ms, notice)."""
    return [(at, b) for at, topic, b in lk.packets
            if topic == "lt.tts" and isinstance(b, dict) and b.get("type") == "playing"]


def _onset(lk: LkParticipant, since: float) -> float | None:
    """Epoch ms of the first loud frame on tts-es at or after `since`."""
    return next((at for at, rms in lk.levels.get("tts-es", []) if at >= since and rms >= LOUD), None)


def run(sets: list[str], every: int, repeat: int, minutes: float = 0.0,
        extra: dict[str, str] | None = None, faster: float = 1.0) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="lt-bench-lk-"))
    lk_proc, lk_env = support.start_livekit(log_dir)
    env = support.base_env(log_dir / "var", SPEECH_AUTOSTART="1", **lk_env, **(extra or {}))
    support.migrate(env)
    web = support.start_web(env, log_dir)
    peers: list[support.Peer] = []
    mic: LkParticipant | None = None
    ear: LkParticipant | None = None
    try:
        import requests
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        ann, bob, eve = support.room_with(web.url, peers, ("Ann", "en"), ("Bob", "es"), ("Eve", "es"))  # type: ignore[attr-defined]
        requests.patch(web.url + "/api/me", json={"ttsEnabled": True}, headers=eve.headers(),
                       timeout=10).raise_for_status()
        assert ann.call("start-voice-session", {"languageCode": "en"})["ok"]
        ready = ann.wait_for("voice-session-ready")[0]
        mic = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
        mic.publish()
        t0 = time.monotonic()
        mic.wait_for_agent()
        agent_join_s = time.monotonic() - t0
        assert eve.call("start-voice-session", {"listenOnly": True})["ok"]
        ready = eve.wait_for("voice-session-ready")[0]
        ear = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
        ear.listen("tts-es")
        support.wait_until(lambda: "tts-es" in ear.subscribed, 20, "tts-es subscribed")  # type: ignore[union-attr]
        if minutes:
            return _continuous(mic, ear, bob, sets, every, minutes, faster)
        recordings = corpus.load(sets, asterisk_every=every) * repeat
        pcm, offsets = bytearray(SILENCE), []
        for clip in recordings:
            offsets.append(len(pcm) + speech_end(clip.pcm))
            pcm += clip.pcm + SILENCE
        marks = mic.play(bytes(pcm), marks={o: 0.0 for o in offsets})
        msgs = support.when_quiet(lambda: bob.got("translated-message"), quiet_s=4, timeout=90)
        support.when_quiet(lambda: _lines(ear), quiet_s=8, timeout=180)  # type: ignore[arg-type]
        arrivals = {d["id"]: t for e, d, t in bob.events if e == "translated-message"}
        msgs.sort(key=lambda m: arrivals[m["id"]])
        rows = []
        for offset in offsets:  # each recording's last phrase: the first caption after its end
            end = marks[offset]
            m = next((m for m in msgs if arrivals[m["id"]] > end), None)
            if m is None:
                continue
            t = m["timings"]
            row = {"total": arrivals[m["id"]] - end, "endpoint": (t["speechEnd"] or end) - end,
                   "stt_bridge": t["received"] - (t["speechEnd"] or end),
                   "app": t["emitted"] - t["received"], "delivery": arrivals[m["id"]] - t["emitted"]}
            line = next(((at, b) for at, b in _lines(ear) if b["utteranceId"] == m["utteranceId"]), None)  # type: ignore[arg-type]
            onset = _onset(ear, line[0] - 100) if line else None  # type: ignore[arg-type]
            if line is not None and onset is not None:
                # Idle: the line started within 300 ms of its caption, not after an earlier line.
                row.update(audio=onset - end, caption_to_line=line[0] - t["emitted"],
                           idle=line[0] - t["emitted"] < 300)
            rows.append(row)
        hyp = " ".join(m["originalText"] for m in msgs)
        edits, words = corpus.wer(" ".join(c.ref or "" for c in recordings), hyp)
        out: dict[str, Any] = {"recordings": len(recordings), "sets": sets, "translated": len(msgs),
                               "agent_join_s": round(agent_join_s, 2), "wer": round(100 * edits / words, 2),
                               "loops": sum(corpus.is_loop("", m["originalText"]) for m in msgs),
                               "measured": len(rows)}
        for k in ("total", "endpoint", "stt_bridge", "app", "delivery", "audio", "caption_to_line"):
            vals = [r[k] for r in rows if k in r]
            out[f"{k}_ms"] = {"n": len(vals), "p50": round(pct(vals, 50)), "p95": round(pct(vals, 95))}
        idle = [r["audio"] for r in rows if r.get("idle")]
        out["audio_idle_track_ms"] = {"n": len(idle), "p50": round(pct(idle, 50)),
                                      "p95": round(pct(idle, 95))}
        out["lines_played"] = len(_lines(ear))  # type: ignore[arg-type]
        return out
    finally:
        for lk in (mic, ear):
            if lk is not None:
                lk.close()
        for p in peers:
            p.close()
        web.stop()
        lk_proc.stop()


def _faster(pcm: bytes, speed: float) -> bytes:
    """16 kHz PCM16 spoken `speed` times as fast, pitch kept, as the agent speeds lines up: a
    fast talker."""
    import numpy as np

    from agent.voice_out import tempo
    return tempo(np.frombuffer(pcm, dtype=np.int16), speed, rate=16000).tobytes()


def _continuous(mic: LkParticipant, ear: LkParticipant, bob: Any, sets: list[str], every: int,
                minutes: float, faster: float = 1.0) -> dict[str, Any]:
    """A speaker who never stops: recordings back to back, 0.3 s apart, for `minutes` (each
    recording `faster` times as fast as it was recorded)."""
    recordings = [_faster(c.pcm, faster) for c in corpus.load(sets, asterisk_every=every)]
    gap = b"\0" * 9600
    pcm = bytearray()
    while len(pcm) < minutes * 60 * 32000:
        for clip in recordings:
            pcm += clip + gap
    pcm = pcm[:int(minutes * 60 * 32000)]
    start = time.time() * 1000
    mic.play(bytes(pcm), timeout=minutes * 60 + 120)
    end = time.time() * 1000
    lines_at_end = _lines(ear)
    last = lines_at_end[-1][1] if lines_at_end else {}
    support.when_quiet(lambda: _lines(ear), quiet_s=10, timeout=300)
    lines = _lines(ear)
    skipped = sum(len(b.get("utteranceIds", [])) for _, topic, b in ear.packets
                  if topic == "lt.tts" and isinstance(b, dict) and b.get("type") == "skipped")
    per_minute = []
    for k in range(int(minutes + 0.999)):
        lo, hi = start + k * 60000, start + (k + 1) * 60000
        lags = [b["lagMs"] for at, b in lines if lo <= at < hi]
        per_minute.append({"minute": k + 1, "lines": len(lags), "lag_p50_ms": round(pct(lags, 50)),
                           "lag_max_ms": max(lags) if lags else None})
    sped = [b["speed"] for _, b in lines if b["speed"] > 1.0]
    return {"minutes": minutes, "captions": len(bob.got("translated-message")), "lines_played": len(lines),
            "lines_skipped": skipped, "lines_sped_up": len(sped),
            "speed_p50_when_sped": round(pct(sped, 50), 2) if sped else None,
            "backlog_at_end_ms": last.get("backlogMs"), "lag_at_end_ms": last.get("lagMs"),
            "drained_after_end_s": round((lines[-1][0] + lines[-1][1]["durationMs"] - end) / 1000, 1)
            if lines else None,
            "per_minute": per_minute}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="librivox,alsa,cards,asterisk-en")
    ap.add_argument("--asterisk-every", type=int, default=16, help="every n-th telephone prompt")
    ap.add_argument("--repeat", type=int, default=1, help="times the recordings are played")
    ap.add_argument("--minutes", type=float, default=0.0, help="continuous speech for this long instead")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for the service (e.g. VOICE_SKIP_S=1000 to see the lag unbounded)")
    ap.add_argument("--name", default="", help="results file name (default from the mode)")
    ap.add_argument("--faster", type=float, default=1.0,
                    help="with --minutes: recordings played this many times as fast (a fast talker)")
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.env)
    result = run(args.sets.split(","), args.asterisk_every, args.repeat, args.minutes, extra, args.faster)
    result.update(env=extra, faster=args.faster)
    print(json.dumps(result, indent=2), flush=True)
    default = f"livekit_continuous_{args.minutes:g}min.json" if args.minutes else "livekit_e2e.json"
    name = args.name or default
    out = ROOT / "bench" / "results" / name
    out.write_text(json.dumps(dict(result, date=time.strftime("%Y-%m-%d")), indent=2) + "\n")


if __name__ == "__main__":
    main()
