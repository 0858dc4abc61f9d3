"""unit: the one per-speaker recognition loop (agent.speaker.SpeakerStream) with an in-test STT
that records what it is fed: resampling to 16 kHz, batching, a language change mid-stream, the
last final on close, an unknown language and an engine failure."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from agent.speaker import SpeakerStream, event_fields
from engines.errors import EngineConnectionError, EngineError, UnsupportedLanguageError
from engines.stt.base import STT, SpeechEvent, SpeechStream, STTCapabilities
from tests.support import wait_until

pytestmark = pytest.mark.unit


class Counting(STT):
    """Each stream reports an interim per push (the bytes it has had) and a final on flush."""

    name = "counting"

    def __init__(self, fail_after: int | None = None) -> None:
        self.pushes: list[tuple[str, int]] = []  # (stream key, bytes)
        self.fail_after = fail_after

    @property
    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(streaming=True, interim_results=True, offline=True,
                               languages=frozenset({"en", "es"}))

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        return ""

    def stream(self, language: str, key_prefix: str, options: Any = None) -> SpeechStream:
        stt = self
        total = [0]

        class _S(SpeechStream):
            def push(self, pcm16: bytes) -> list[SpeechEvent]:
                if stt.fail_after is not None and len(stt.pushes) >= stt.fail_after:
                    raise EngineConnectionError("the engine went away", engine="counting")
                stt.pushes.append((key_prefix, len(pcm16)))
                total[0] += len(pcm16)
                return [SpeechEvent("interim", f"{total[0]}", language, key_prefix, 0, 0, 1.25)]

            def flush(self) -> list[SpeechEvent]:
                return [SpeechEvent("final", f"{language}:{total[0]}", language, key_prefix, 0,
                                    total[0] / 32, 2.0, speech_end_at=9e12)]
        return _S()


def _run(stream: SpeakerStream, chunks: list[bytes], change_to: str | None = None) -> None:
    stream.start()
    for i, chunk in enumerate(chunks):
        if change_to and i == len(chunks) // 2:
            stream.set_language(change_to)
        stream.feed(chunk)
    stream.close()
    stream.thread.join(10)
    assert not stream.thread.is_alive()


def test_batches_push_and_close_flushes_the_last_final() -> None:
    stt, got = Counting(), []
    keys = iter(["k1", "k2"])
    s = SpeakerStream(stt, "en", key_prefix=lambda: next(keys), deliver=got.extend, batch_bytes=1280)
    _run(s, [b"\0" * 320] * 10)  # 10 ms chunks, gathered into 40 ms pushes
    assert [n for _, n in stt.pushes] == [1280, 1280, 640]
    assert [(e.kind, e.text) for e in got][-1] == ("final", "en:3200")


def test_a_language_change_ends_one_stream_and_opens_another() -> None:
    stt, got = Counting(), []
    keys = iter(["k1", "k2"])
    s = SpeakerStream(stt, "en", key_prefix=lambda: next(keys), deliver=got.extend)
    _run(s, [b"\0" * 320] * 4, change_to="es")
    finals = [(e.text, e.utterance_key) for e in got if e.kind == "final"]
    assert finals == [("en:640", "k1"), ("es:640", "k2")]
    assert s.language == "es"


def test_other_rates_are_resampled_to_16_khz() -> None:
    stt, got = Counting(), []
    s = SpeakerStream(stt, "en", rate=48000, key_prefix=lambda: "k", deliver=got.extend)
    tone = (np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440) * 8000).astype(np.int16).tobytes()
    _run(s, [tone[i:i + 9600] for i in range(0, len(tone), 9600)])  # 1 s at 48 kHz
    assert sum(n for _, n in stt.pushes) == pytest.approx(32000, abs=64)  # 1 s at 16 kHz


def test_an_unknown_language_and_a_failing_engine_end_the_stream_through_on_error() -> None:
    for stt, language, expected in ((Counting(), "de", UnsupportedLanguageError),
                                    (Counting(fail_after=2), "en", EngineConnectionError)):
        errors: list[EngineError] = []
        ended = threading.Event()
        s = SpeakerStream(stt, language, key_prefix=lambda: "k", deliver=lambda ev: None,
                          on_error=errors.append, on_end=ended.set)
        _run(s, [b"\0" * 320] * 5)
        assert ended.is_set() and [type(e) for e in errors] == [expected]
        left = s.inbox.qsize()
        s.feed(b"\0" * 320)  # a stream that ended takes no more audio
        assert s.inbox.qsize() == left


def test_events_are_reported_with_every_field_json_ready() -> None:
    e = SpeechEvent("final", "hola", "es", "k1", 10.0, 900.0, 123.456, speech_end_at=1.5e12,
                    engine="grok", part=2)
    assert event_fields(e) == {"kind": "final", "text": "hola", "language": "es", "utteranceKey": "k1",
                               "startMs": 10.0, "endMs": 900.0, "decodeMs": 123.5, "speechEndAt": 1.5e12,
                               "engine": "grok", "previous": "", "part": 2}


def test_audio_waiting_is_bounded_past_it_chunks_are_dropped_and_told_once() -> None:
    stt = Counting()
    gate = threading.Event()
    told: list[int] = []
    delivered: list[SpeechEvent] = []

    def deliver(events: list[SpeechEvent]) -> None:
        gate.wait(10)  # recognition is stuck behind others: audio piles up
        delivered.extend(events)

    stream = SpeakerStream(stt, "en", key_prefix=lambda: "k", deliver=deliver,
                           on_overflow=lambda: told.append(1), max_backlog_s=1.0).start()
    chunk = b"\0" * 1280  # 40 ms
    assert stream.feed(chunk)
    wait_until(lambda: stt.pushes, 5, "the first chunk to be under recognition (and stuck)")
    taken = [True] + [stream.feed(chunk) for _ in range(59)]  # 2.4 s at once
    assert taken.count(True) == 26  # 1 s waiting, and the chunk being recognised
    assert taken[-1] is False and told == [1] and stream.dropped >= 34 * 1280
    gate.set()
    stream.close()
    stream.thread.join(5)
    assert sum(n for _, n in stt.pushes) == taken.count(True) * 1280  # what was taken, all heard


def test_a_finals_speech_end_is_no_later_than_its_audio_arrived() -> None:
    """The engine stamps a speech end when it *processes* the audio (here: far in the future,
    as a recogniser behind by minutes would). A speaker who stops and leaves at once said it while
    in the room: the end the final carries is when the audio came, not when it was recognised."""
    import time
    stt, got = Counting(), []
    s = SpeakerStream(stt, "en", key_prefix=lambda: "k", deliver=got.extend)
    before = time.time() * 1000
    _run(s, [b"\0" * 320] * 3)
    after = time.time() * 1000
    final = [e for e in got if e.kind == "final"][0]
    assert final.speech_end_at is not None and before <= final.speech_end_at <= after
