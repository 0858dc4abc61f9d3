"""e2e: the Socket.IO audio path. Audio goes browser → web process → speech process (local
Whisper) → handle_transcript(); interims reach the room, finals are translated for listeners."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import wave
from pathlib import Path

import psutil
import pytest

from bench import speech_corpus as corpus
from tests.support import Peer, Service, room_with, wait_until, when_quiet
from tests.support.speech import clips, normalize, wer

pytestmark = [pytest.mark.e2e, pytest.mark.speech]


def _room(svc: Service, peers: list[Peer], speaker_lang: str, listener_lang: str) -> tuple[Peer, Peer]:
    a, b = room_with(svc.url, peers, ("Speaker", speaker_lang), ("Listener", listener_lang))
    return a, b


def _speak(p: Peer, pcm: bytes, lang: str, rate: int = 16000, chunk_ms: int = 40,
           realtime: bool = True) -> None:
    ack = p.call("start-speech", {"languageCode": lang, "sampleRateHertz": rate})
    assert ack["ok"], ack
    step = rate * 2 * chunk_ms // 1000
    for i in range(0, len(pcm), step):
        p.sio.emit("speech-data", pcm[i:i + step])
        if realtime:
            time.sleep(chunk_ms / 1000)
    assert p.call("stop-speech")["ok"]


def test_recorded_english_speech_is_transcribed_live_and_translated(embedded: Service,
                                                                    peers: list[Peer]) -> None:
    a, b = _room(embedded, peers, "en", "es")
    data = clips()
    silence = b"\0" * 16000  # half a second between sentences, as a reader pauses
    pcm = silence.join(p for p, _ in data) + silence
    refs = [r for _, r in data]
    ack = a.call("start-speech", {"languageCode": "en"})
    assert ack["ok"], ack
    step = 16000 * 2 * 40 // 1000
    interim_while_speaking = False
    for i in range(0, len(pcm), step):
        a.sio.emit("speech-data", pcm[i:i + step])
        time.sleep(0.04)
        interim_while_speaking = interim_while_speaking or bool(b.got("interim-transcript"))
    assert a.call("stop-speech")["ok"]
    a.wait_for("recognized-speech", count=len(refs), timeout=60)
    finals = when_quiet(lambda: a.got("recognized-speech"))  # each sentence, maybe in segments
    assert interim_while_speaking, "no interim-transcript arrived while audio was still streaming"
    interim = b.got("interim-transcript")[0]
    assert interim["speakerId"] == a.id and interim["sourceLang"] == "en"
    edits, words = wer(normalize(" ".join(refs)), normalize(" ".join(f["text"] for f in finals)))
    assert edits / words <= 0.05, f"WER {edits / words:.1%}"
    translated = b.wait_for("translated-message", count=len(finals), timeout=30)
    assert all(m["targetLang"] == "es" and m["translatedText"] for m in translated)
    assert translated[0]["timings"]["speechEnd"] is not None


def _espeak(tmp: Path, voice: str, text: str) -> tuple[bytes, int]:
    wav = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(wav), text], check=True)
    with wave.open(str(wav)) as w:
        return w.readframes(w.getnframes()) + b"\0" * w.getframerate(), w.getframerate()


# Whisper base is weak on espeak-ng's French (see ENGINES.md): "Bonjour, il fait beau" comes back
# as "pour vous, il fait beaucoup plus", and across ten French sentences WER is ~60 % with either
# encoder window (bench/RESULTS.md). These sentence/voice pairs are recognised with both windows.
@pytest.mark.parametrize(("lang", "voice", "listener", "text", "expect"), [
    # "tiempo" sometimes comes back as "día" ("hoy hace buen día"): not asked for.
    ("es", "es", "en", "Buenos días, hoy hace buen tiempo.", {"buenos", "días", "hoy", "hace"}),
    ("fr", "fr", "es", "Merci beaucoup, à demain.", {"merci", "beaucoup", "demain"}),
    # Italian reaches English through Spanish (it → es → en); "domani" comes back as "domali".
    ("it", "it", "en", "Grazie mille, a domani.", {"grazie", "mille"}),
])
def test_synthesized_speech_round_trips_into_captions(embedded: Service, peers: list[Peer], tmp_path: Path,
                                                     lang: str, voice: str, listener: str, text: str,
                                                     expect: set[str]) -> None:
    a, b = _room(embedded, peers, lang, listener)
    pcm, rate = _espeak(tmp_path, voice, text)
    _speak(a, pcm, lang, rate=rate, realtime=False)  # 22.05 kHz: resampled in the speech process
    a.wait_for("recognized-speech", timeout=60)
    said = " ".join(f["text"] for f in when_quiet(lambda: a.got("recognized-speech")))
    assert expect <= set(normalize(said)), said
    msg = b.wait_for("translated-message", timeout=30)[0]
    assert msg["sourceLang"] == lang and msg["targetLang"] == listener and msg["translatedText"]


def test_a_language_whisper_does_not_know_is_a_clear_error(embedded: Service, peers: list[Peer]) -> None:
    """Esperanto is translated locally but not recognised: the speaker is told to type."""
    a, b = _room(embedded, peers, "eo", "en")
    assert a.call("start-speech", {"languageCode": "eo"})["ok"]
    err = a.wait_for("speech-error", timeout=20)[0]
    assert "Esperanto" in str(err) and "type" in str(err), err
    assert a.say("Bonan matenon.", "eo")["ok"]  # typing works
    assert b.wait_for("translated-message", timeout=30)[0]["translatedText"]
    assert a.call("start-speech", {"languageCode": "en"})["ok"]  # the failed session was ended


def test_bad_speech_input_is_refused_with_a_clear_error_and_no_effect(embedded: Service,
                                                                      peers: list[Peer]) -> None:
    a, b = _room(embedded, peers, "en", "es")
    ack = a.call("speech-data", b"\0" * 320)
    assert ack["error"]["code"] == "no_session"
    assert a.call("start-speech", {"languageCode": "en", "encoding": "OGG_OPUS"})["error"]["code"] \
        == "unsupported_encoding"
    assert a.call("start-speech", {"languageCode": "en", "sampleRateHertz": 12345})["error"]["code"] \
        == "unsupported_sample_rate"
    assert a.call("start-speech", {"languageCode": "xx"})["error"]["code"] == "unsupported_language"
    assert a.call("start-speech", {"languageCode": "en"})["ok"]
    assert a.call("start-speech", {"languageCode": "en"})["error"]["code"] == "already_speaking"
    assert a.call("speech-data", b"\0" * (64 * 1024 + 2))["error"]["code"] == "too_large"
    assert a.call("speech-data", "not audio")["error"]["code"] == "bad_type"
    assert a.call("stop-speech")["ok"]
    assert len(a.wait_for("speech-error", count=7)) == 7
    time.sleep(1.0)
    assert a.got("recognized-speech") == [] and b.got("translated-message") == []


def test_web_process_stays_responsive_while_two_sessions_stream(embedded: Service,
                                                                peers: list[Peer]) -> None:
    """Loose bound only; bench/stt.py measures the ack latency properly."""
    a, b = _room(embedded, peers, "en", "es")
    c = Peer(embedded.url, "Prober", "en").connect()
    peers.append(c)
    pcm = b"".join(p for p, _ in clips()[:2])
    threads = [threading.Thread(target=_speak, args=(p, pcm, "en")) for p in (a, b)]
    for t in threads:
        t.start()
    rtts = []
    while any(t.is_alive() for t in threads):
        t0 = time.perf_counter()
        assert c.call("ping")["ok"]
        rtts.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.05)
    for t in threads:
        t.join()
    rtts.sort()
    assert len(rtts) > 50
    assert rtts[int(len(rtts) * 0.99)] < 250, rtts[-5:]
    assert a.wait_for("recognized-speech", timeout=60) and b.wait_for("recognized-speech", timeout=60)


@pytest.mark.own_service
def test_speech_process_killed_is_restarted_and_the_next_session_works(embedded: Service,
                                                                       peers: list[Peer]) -> None:
    a, b = _room(embedded, peers, "en", "es")
    pcm, _ = clips()[1]
    _speak(a, pcm + b"\0" * 16000, "en", realtime=False)
    a.wait_for("recognized-speech", timeout=60)
    speech = embedded.health()["engines"]["speech"]
    assert speech["running"] and speech["connected"] and speech["stt"]["model"] == "base"
    assert a.call("start-speech", {"languageCode": "en"})["ok"]
    a.sio.emit("speech-data", pcm[:16000])
    os.kill(speech["pid"], signal.SIGKILL)  # mid-session
    a.wait_for("speech-error", lambda m: "restarted" in m, timeout=20)
    assert a.call("stop-speech")["error"]["code"] == "no_session"  # that session is gone
    first = {f["utteranceKey"] for f in a.got("recognized-speech")}
    _speak(a, pcm + b"\0" * 16000, "en", realtime=False)
    a.wait_for("recognized-speech", lambda f: f["utteranceKey"] not in first, timeout=90)
    finals = when_quiet(lambda: a.got("recognized-speech"))
    second = " ".join(f["text"] for f in finals if f["utteranceKey"] not in first)
    assert "he was not" in second.lower()
    after = embedded.health()["engines"]["speech"]
    assert after["pid"] != speech["pid"] and after["restarts"] == 1
    # Each accepted utterance reached the listener once: what was cut off is not half-delivered,
    # and nothing before the kill comes again.
    got = when_quiet(lambda: b.got("translated-message"))
    assert sorted(m["utteranceId"] for m in got) == sorted(f["utteranceId"] for f in finals)
    assert len({m["utteranceKey"] for m in got}) == 2
    # The restarted speech process still ends with the web process that started it (an orphan
    # would hold the model and the socket): engines.children.
    os.kill(embedded.procs[0].popen.pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(after["pid"])
               or psutil.Process(after["pid"]).status() == psutil.STATUS_ZOMBIE, 10,
               "the speech process to end with the web process")


def test_audio_sent_faster_than_real_time_keeps_its_order(embedded: Service, peers: list[Peer]) -> None:
    """A client flooding speech-data (no pacing, no waiting for acks): each event runs on its own
    green thread and the speech socket fills up; frames must neither interleave nor reorder. Half a
    minute of audio at once: within what a speaker may have waiting (a minute), so none is dropped."""
    a, b = _room(embedded, peers, "en", "es")
    data = clips()
    silence = b"\0" * 16000
    pcm = silence.join(p for p, _ in data) + silence
    assert a.call("start-speech", {"languageCode": "en"})["ok"]
    step = 64 * 1024
    for i in range(0, len(pcm), step):
        a.sio.emit("speech-data", pcm[i:i + step])
    assert a.call("stop-speech", timeout=60)["ok"]
    a.wait_for("recognized-speech", count=len(data), timeout=120)
    finals = when_quiet(lambda: a.got("recognized-speech"))  # each sentence, maybe in segments
    assert a.got("speech-error") == [] and a.got("app-error") == []
    refs = [r for _, r in data]
    edits, words = wer(normalize(" ".join(refs)), normalize(" ".join(f["text"] for f in finals)))
    assert edits / words <= 0.08, f"WER {edits / words:.1%}: audio out of order or lost"


def test_real_speech_with_pauses_through_the_service_never_loops(embedded: Service,
                                                                 peers: list[Peer]) -> None:
    """Real people with pauses inside phrases ("Front … Left") and between them (0.8-1.2 s), at
    real-time pace over Socket.IO: every final reaches the room without a loop, short phrases stay
    whole, and the word error rate stays near the engine's (bench/RESULTS.md)."""
    a, b = _room(embedded, peers, "en", "es")
    alsa = corpus.load(["alsa"])
    recordings = alsa + corpus.load(["asterisk-en"], asterisk_every=32)
    gaps = (b"\0" * 25600, b"\0" * 38400)
    pcm = b"".join(c.pcm + gaps[i % 2] for i, c in enumerate(recordings))
    _speak(a, pcm, "en")
    finals = when_quiet(lambda: a.got("recognized-speech"))
    texts = [f["text"] for f in finals]
    assert not [t for t in texts if corpus.is_loop("", t)], texts
    assert [corpus.normalize(t) for t in texts[:len(alsa)]] == [corpus.normalize(c.ref or "") for c in alsa]
    edits, words = corpus.wer(" ".join(c.ref or "" for c in recordings), " ".join(texts))
    assert words > 70 and edits / words <= 0.08, (f"WER {edits / words:.1%}", texts)
    assert len(b.wait_for("translated-message", count=len(finals), timeout=30)) == len(finals)


def test_leaving_the_room_ends_the_audio_session_and_nothing_more_reaches_the_room(
        embedded: Service, peers: list[Peer]) -> None:
    a, b = _room(embedded, peers, "en", "es")
    pcm, _ = clips()[0]
    assert a.call("start-speech", {"languageCode": "en"})["ok"]
    step = 16000 * 2 * 40 // 1000
    for i in range(0, len(pcm), step):  # a sentence, as the page streams it
        a.sio.emit("speech-data", pcm[i:i + step])
        time.sleep(0.04)
    assert a.call("leave-room")["ok"]
    assert a.wait_for("speech-error", lambda m: "left the room" in m)
    ack = a.call("speech-data", pcm[:step])  # the page keeps streaming: refused, not heard
    assert ack["ok"] is False and ack["error"]["code"] == "no_session"
    b.wait_for("translated-message", timeout=60)  # what was said before leaving counts
    said = when_quiet(lambda: b.got("translated-message"))
    assert len({m["utteranceKey"] for m in said}) == 1  # one sentence, maybe in segments
    assert sorted(m["part"] for m in said) == list(range(len(said)))
    quiet_from = time.time() * 1000
    for i in range(0, len(pcm), step):
        a.sio.emit("speech-data", pcm[i:i + step])
    time.sleep(5)
    late = [d for e, d, t in b.events if t > quiet_from and e in ("interim-transcript",
                                                                  "translated-message")]
    assert late == []


@pytest.mark.env(RATE_LIMIT_SCALE="1")
def test_audio_sent_much_faster_than_real_time_is_refused(embedded: Service, peers: list[Peer]) -> None:
    a, _ = _room(embedded, peers, "en", "es")
    assert a.call("start-speech", {"languageCode": "en"})["ok"]
    chunk = b"\0" * (16000 * 2 * 40 // 1000)  # 40 ms
    acks = [a.call("speech-data", chunk) for _ in range(150)]  # 6 s of audio, sent at once
    taken = sum(1 for ack in acks if ack["ok"])
    assert 75 <= taken < 150  # about 3 s of audio a second, then refused
    assert {ack["error"]["code"] for ack in acks if not ack["ok"]} == {"rate_limited"}
    assert a.call("stop-speech")["ok"]


def test_a_long_reading_is_captioned_in_segments_while_the_speaker_talks(embedded: Service,
                                                                          peers: list[Peer]) -> None:
    """Sentences read with only a breath between them are one long utterance; its segments reach
    listeners of other languages as translated captions before the speaker stops, in order, each
    once, reading as the whole; the words not yet committed reach them as interim-translation
    (never the speaker, never a listener of the speaker's language or outside the room)."""
    a, b, c = room_with(embedded.url, peers, ("Speaker", "en"), ("Oyente", "es"), ("Same", "en"))
    outsider, _ = room_with(embedded.url, peers, ("Outsider", "es"), ("Other", "en"))
    recordings = corpus.load(["librivox"])
    pcm, starts = corpus.continuous(recordings)
    _speak(a, pcm + b"\0" * 3200, "en")  # stop-speech a tenth of a second after the last word
    stopped = time.time() * 1000
    captions = when_quiet(lambda: b.got("translated-message"), quiet_s=3.0)
    arrivals = [t for e, _, t in b.events if e == "translated-message"]
    assert sum(1 for t in arrivals if t < stopped) >= 3, "fewer than three captions while speaking"
    parts = [(m["utteranceKey"], m["part"]) for m in captions]
    assert len(set(parts)) == len(parts), "a segment was shown twice"
    assert len({k for k, _ in parts}) == 1, "one utterance: every segment under its key"
    assert sorted(p for _, p in parts) == list(range(len(parts)))
    said = " ".join(m["originalText"] for m in sorted(captions, key=lambda m: m["part"]))
    edits, words = wer(normalize(" ".join(r for _, r in starts)), normalize(said))
    assert edits / words <= 0.06, f"WER {edits / words:.1%}: {said}"
    assert all(m["translatedText"] and m["targetLang"] == "es" for m in captions)
    live = b.got("interim-translation")
    assert live and all(m["speakerId"] == a.id and m["targetLang"] == "es" and m["sourceLang"] == "en"
                        and m["text"] for m in live)
    assert not a.got("interim-translation") and not c.got("interim-translation")
    assert not outsider.got("interim-translation") and not outsider.got("interim-transcript")
    # None for a segment after its caption: the caption replaces it.
    committed = {(m["utteranceKey"], m["part"]): t for e, m, t in b.events if e == "translated-message"}
    late = [m for e, m, t in b.events if e == "interim-translation"
            and any(k == m["utteranceKey"] and p >= m["part"] and t > at + 1000
                    for (k, p), at in committed.items())]
    assert not late, late
