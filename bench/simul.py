"""Simultaneous captions: the ear–voice span (EVS) of translated captions and translated interims,
through the real embedded service, on long real recordings read without pauses.

One speaker streams a long reading over Socket.IO at real-time pace (recordings from
bench/speech_corpus.py read one after another with only a breath between them: one long
utterance, as a lecture or a briefing); a listener of another language records when each
`translated-message` and `interim-translation` arrives. When each word was spoken comes from a
whole-file decode of the same audio with word timestamps (faster-whisper's alignment). A word's
EVS is the time from its end in the recording to the first moment a translation covering it is on
the listener's side: a caption (segment) for the caption EVS; a caption or a translated interim
for the interim EVS. Also reported: the last word's end → last caption, the recognised text's WER
against the references, the number of captions before the speaker stopped, and the speech
process's CPU seconds per second of speech.

    .venv/bin/python bench/simul.py [--sets librivox] [--target es] [--repeat 2] [--livekit] [--grok]
                                    [--json out.json]

With --grok the speaker is recognised and the listeners translated by Grok, against its local fake
(tests/support/fake_xai.py) answering at once: it hears each word when the audio reaches its end
and locks what it heard every 3 s (`--lock-every`; xAI's locked chunks are ~3 s).

With --livekit the speaker talks into a LiveKit microphone (the agent recognises it) and a
listen-only listener with speech on hears the `tts-<lang>` track: a word's spoken EVS is from its
end to the start of its segment's line on that track.

Settings of the service (STT_SEGMENTS, STT_INTERIM_INTERVAL_MS, ...) pass through the environment.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import speech_corpus as corpus  # noqa: E402

CHUNK_S = 0.04


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def word_times(pcm: bytes, language: str) -> list[tuple[str, float]]:
    """(normalised word, end in seconds) for every word of the recording, from one whole-file
    decode with word timestamps: the timeline EVS is measured against."""
    return [(n, end) for w, end in decoded_words(pcm, language) for n in corpus.normalize(w, language)]


def decoded_words(pcm: bytes, language: str) -> list[tuple[str, float]]:
    """(word as written, with its punctuation; end in seconds) from one whole-file decode."""
    import numpy as np

    from engines.providers.local.whisper import WhisperSTT
    stt = WhisperSTT("base")
    stt.start()
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    segments, _ = stt._model.transcribe(audio, language=language, word_timestamps=True,
                                        condition_on_previous_text=False, vad_filter=False)
    return [(w.word.strip(), float(w.end)) for s in segments for w in s.words or () if w.word.strip()]


def coverage(events: list[tuple[float, int]], spoken: list[float], t0: float) -> list[float]:
    """Per word (in order), the EVS: first time (s after t0) a shown text covers it, minus when it
    was spoken. `events` are (arrival epoch s, words covered from the start) in arrival order."""
    out, best = [], 0
    covered_at: list[float] = []
    for at, n in sorted(events):
        while best < min(n, len(spoken)):
            covered_at.append(at - t0)
            best += 1
    for i, when in enumerate(covered_at):
        out.append(when - spoken[i])
    return out


def speech_cpu_s(web_pid: int) -> float:
    """CPU seconds used so far by the speech process (the web process's Python child)."""
    import psutil
    total = 0.0
    for child in psutil.Process(web_pid).children(recursive=True):
        try:
            if "agent.speech_server" in " ".join(child.cmdline()):
                t = child.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


def run(sets: list[str], target: str, repeat: int, gap_s: float, livekit: bool,
        grok: bool = False, lock_every_s: float = 3.0) -> dict[str, Any]:
    from tests import support
    clips = corpus.load(sets) * repeat
    language = clips[0].language
    pcm, starts = corpus.continuous(clips, gap_s)
    written = decoded_words(pcm, language)
    timeline = [(n, end) for w, end in written for n in corpus.normalize(w, language)]
    refs = " ".join(r for _, r in starts)
    log_dir = Path(tempfile.mkdtemp(prefix="lt-bench-simul-"))
    lk_env: dict[str, str] = {}
    lk_proc = fake = None
    if livekit:
        lk_proc, lk_env = support.start_livekit(log_dir)
    if grok:  # recognition and translation by Grok: its local fake, answering at once
        from tests.support.fake_xai import FakeXAI
        fake = FakeXAI().start()
        fake.recording = (pcm, written)  # it hears each word when the audio reaches its end
        fake.lock_every_s = lock_every_s
        fake.translate = lambda text, _target: text
        lk_env.update(XAI_API_KEY=fake.key, XAI_BASE_URL=fake.base_url, STT_ENGINES="grok,local",
                      TRANSLATION_ENGINES="grok,local")
    env = support.base_env(log_dir / "var", SPEECH_AUTOSTART="1", **lk_env)
    env.update({k: v for k, v in os.environ.items() if k.startswith(("STT_", "INTERIM_"))})
    support.migrate(env)
    web = support.start_web(env, log_dir)
    peers: list[support.Peer] = []
    lk_peers: list[Any] = []
    spoken: list[tuple[float, str]] = []
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        a, b, e = support.room_with(web.url, peers, ("Speaker", language),  # type: ignore[attr-defined]
                                    ("Listener", target), ("Ear", target))
        if grok:
            import requests
            for p, prefs in ((a, {"sttEngine": "grok"}), (b, {"translationEngine": "grok"}),
                             (e, {"translationEngine": "grok"})):
                requests.patch(web.url + "/api/me", json=prefs, headers=p.headers(),
                               timeout=10).raise_for_status()
        play = _socketio_speaker(a, language) if not livekit else \
            _livekit_speaker(web.url, a, e, lk_peers)  # type: ignore[attr-defined]
        cpu0 = speech_cpu_s(web.popen.pid)
        t0, stopped = play(pcm)
        support.when_quiet(lambda: b.got("translated-message"), quiet_s=4.0, timeout=120)
        cpu = speech_cpu_s(web.popen.pid) - cpu0
        if livekit:
            ear = lk_peers[-1]
            support.when_quiet(lambda: _lines(ear), quiet_s=8.0, timeout=180)
            spoken = [(at / 1000, body["utteranceId"]) for at, body in _lines(ear)]
    finally:
        for lk in lk_peers:
            lk.close()
        for p in peers:
            p.close()
        web.stop()
        if lk_proc is not None:
            lk_proc.stop()
        if fake is not None:
            fake.stop()
    out = score(b.events, timeline, refs, language, t0, stopped, cpu, len(pcm) / 32000)
    if livekit:
        out["spoken_evs_s"] = _spoken(b.events, spoken, timeline, language, t0)
    return out


def _socketio_speaker(a: Any, language: str) -> Any:
    """The speaker streams over Socket.IO audio at real-time pace; returns play(pcm) → (epoch s
    the first word's audio went out, epoch s the speaker stopped)."""
    warm = a.call("start-speech", {"languageCode": language})  # the model loaded, the path warm
    assert warm["ok"], warm
    a.call("stop-speech")
    time.sleep(1.0)

    def play(pcm: bytes) -> tuple[float, float]:
        assert a.call("start-speech", {"languageCode": language})["ok"]
        lead = b"\0" * 32000
        audio = lead + pcm + b"\0" * 32000
        step = int(16000 * CHUNK_S) * 2
        started = time.monotonic()
        t0 = time.time() + len(lead) / 32000
        for k, j in enumerate(range(0, len(audio), step)):
            a.sio.emit("speech-data", audio[j:j + step])
            time.sleep(max(0.0, started + (k + 1) * CHUNK_S - time.monotonic()))
        assert a.call("stop-speech")["ok"]
        return t0, t0 + len(pcm) / 32000
    return play


def _livekit_speaker(url: str, a: Any, ear_peer: Any, lk_peers: list[Any]) -> Any:
    """The speaker's microphone on LiveKit (Opus over WebRTC through the LiveKit server, the agent
    recognising it); a listen-only listener with speech on hears the `tts-<lang>` track."""
    import requests

    from tests import support
    from tests.support.livekit_client import LkParticipant
    requests.patch(url + "/api/me", json={"ttsEnabled": True}, headers=ear_peer.headers(),
                   timeout=10).raise_for_status()
    assert a.call("start-voice-session", {})["ok"]
    ready = a.wait_for("voice-session-ready")[0]
    mic = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
    lk_peers.append(mic)
    mic.publish()
    mic.wait_for_agent()
    assert ear_peer.call("start-voice-session", {"listenOnly": True})["ok"]
    ready = ear_peer.wait_for("voice-session-ready")[0]
    ear = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
    lk_peers.append(ear)
    language = ear_peer.user["language"]
    ear.listen(f"tts-{language}")
    support.wait_until(lambda: f"tts-{language}" in ear.subscribed, 20, "the tts track")

    def play(pcm: bytes) -> tuple[float, float]:
        lead = b"\0" * 32000
        end = len(lead) + len(pcm)
        marks = mic.play(lead + pcm + b"\0" * 32000, marks={len(lead): 0.0, end: 0.0})
        return marks[len(lead)] / 1000, marks[end] / 1000
    return play


def _lines(lk: Any) -> list[tuple[float, dict[str, Any]]]:
    """The agent's `playing` notices a listener received: (epoch ms, notice)."""
    return [(at, body) for at, topic, body in lk.packets
            if topic == "lt.tts" and isinstance(body, dict) and body.get("type") == "playing"]


def _spoken(events: list[tuple[str, Any, float]], lines: list[tuple[float, str]],
            timeline: list[tuple[str, float]], language: str, t0: float) -> dict[str, float]:
    """EVS of the spoken translation: a word counts as heard when the line of its segment starts
    playing at the listener (the agent's `playing` notice)."""
    captions = [d for e, d, _ in events if e == "translated-message"]
    order = sorted(captions, key=lambda d: (d["utteranceKey"], d["part"]))
    said = [w for d in order for w in corpus.normalize(d["originalText"], language)]
    spoken_of = _align(said, [w for w, _ in timeline], [t for _, t in timeline])
    covered, upto = {}, 0
    for d in order:
        upto += len(corpus.normalize(d["originalText"], language))
        covered[d["utteranceId"]] = upto
    heard = [(at, covered[uid]) for at, uid in lines if uid in covered]
    return _dist(coverage(heard, spoken_of, t0))


def score(events: list[tuple[str, Any, float]], timeline: list[tuple[str, float]], refs: str,
          language: str, t0: float, stopped: float, cpu_s: float, audio_s: float) -> dict[str, Any]:
    got = [((d["utteranceKey"], d["part"]), t / 1000, d["originalText"])
           for e, d, t in events if e == "translated-message"]
    first: dict[str, float] = {}
    for (key, _), at, _ in got:
        first[key] = min(first.get(key, at), at)
    # What was said in order: utterances by their first caption, each one's parts in order.
    captions = sorted(got, key=lambda c: (first[c[0][0]], c[0][1]))
    by_arrival = sorted(captions, key=lambda c: c[1])
    said = [w for _, _, text in captions for w in corpus.normalize(text, language)]
    # Map recognised words onto the timeline (spoken times) by a word alignment.
    spoken_of = _align(said, [w for w, _ in timeline], [t for _, t in timeline])
    done: dict[tuple[str, int], int] = {}
    cap_events = []
    for (key, part), at, text in by_arrival:
        done[(key, part)] = len(corpus.normalize(text, language))
        # Words covered: every caption so far, in order up to the first gap.
        shown = _covered(done, captions, language)
        cap_events.append((at, shown))
    caption_evs = coverage(cap_events, spoken_of, t0)
    # Interims: a translated interim at T covers the captions before it plus the source words of
    # the latest interim-transcript of the same part.
    tails: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for e, d, t in events:
        if e == "interim-transcript":
            tails.setdefault((d["utteranceKey"], d.get("part", 0)), []).append(
                (t / 1000, len(corpus.normalize(d["text"], language))))
    interim_events = list(cap_events)
    for e, d, t in events:
        if e != "interim-translation":
            continue
        at = t / 1000
        key = (d["utteranceKey"], d["part"])
        seen = [n for when, n in tails.get(key, []) if when <= at]
        before = sum(n for (k, p), n in done.items() if k == key[0] and p < key[1])
        earlier = sum(len(corpus.normalize(x, language)) for kp, arr, x in captions
                      if kp[0] != key[0] and arr <= at)
        if seen:
            interim_events.append((at, earlier + before + seen[-1]))
    interim_evs = coverage(interim_events, spoken_of, t0)
    last_end = t0 + timeline[-1][1] if timeline else stopped
    edits, n = corpus.wer(refs, " ".join(text for _, _, text in captions), language)
    return {
        "audio_s": round(audio_s, 1), "words": len(timeline), "captions": len(captions),
        "captions_before_stop": sum(1 for _, at, _ in captions if at < stopped),
        "interim_translations": sum(1 for e, *_ in events if e == "interim-translation"),
        "wer_pct": round(100 * edits / max(1, n), 1),
        "caption_evs_s": _dist(caption_evs), "interim_evs_s": _dist(interim_evs),
        "last_word_to_last_caption_ms": round((max(at for _, at, _ in captions) - last_end) * 1000)
        if captions else None,
        "speech_cpu_s_per_audio_s": round(cpu_s / audio_s, 3),
    }


def _covered(done: dict[tuple[str, int], int], captions: list[Any], _language: str) -> int:
    n = 0
    for kp, _, _ in captions:  # in (key, part) order: an utterance's parts in order
        if kp not in done:
            break
        n += done[kp]
    return n


def _align(said: list[str], timed: list[str], ends: list[float]) -> list[float]:
    """For each recognised word, when it was spoken: the matched timeline word's end, or the
    previous matched one's for an unmatched word."""
    out: list[float] = []
    matcher = difflib.SequenceMatcher(a=said, b=timed, autojunk=False)
    mapping = {}
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            mapping[block.a + i] = block.b + i
    last = ends[0] if ends else 0.0
    for i in range(len(said)):
        if i in mapping:
            last = ends[mapping[i]]
        out.append(last)
    return out


def _dist(values: list[float]) -> dict[str, float]:
    return {"p50": round(pct(values, 50), 2), "p95": round(pct(values, 95), 2),
            "max": round(max(values), 2) if values else float("nan"),
            "mean": round(statistics.fmean(values), 2) if values else float("nan"), "n": len(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="librivox")
    ap.add_argument("--target", default="es")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--gap", type=float, default=0.12, help="seconds between recordings")
    ap.add_argument("--livekit", action="store_true",
                    help="speak into a LiveKit microphone; also measure the spoken translation")
    ap.add_argument("--grok", action="store_true",
                    help="recognise and translate with Grok (its local fake, answering at once)")
    ap.add_argument("--lock-every", type=float, default=3.0,
                    help="with --grok: the fake locks what it heard every this many seconds")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = run(args.sets.split(","), args.target, args.repeat, args.gap, args.livekit, args.grok,
                 args.lock_every)
    result.update(sets=args.sets, target=args.target, repeat=args.repeat, grok=args.grok,
                  lock_every_s=args.lock_every if args.grok else None,
                  settings={k: v for k, v in os.environ.items() if k.startswith(("STT_", "INTERIM_"))})
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
