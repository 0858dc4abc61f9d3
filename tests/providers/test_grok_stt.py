"""Grok speech recognition against the local fake of xAI's `/stt`, driven through our real client
on real recorded English: the handshake, VAD gating, interims and finals; and failover to local
Whisper when the provider drops, stalls, refuses, garbles or runs out of budget — the utterance
in flight is completed once, by the next engine, from its start."""
from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from engines.providers.local.whisper import WhisperSTT
from engines.providers.xai.config import XAIConfig
from engines.providers.xai.stt import GrokSTT
from engines.registry import Cooldowns
from engines.stt.base import SpeechEvent, StreamOptions
from engines.stt.fallback import FailoverStream
from tests.support.fake_xai import FakeXAI
from tests.support.speech import clips, normalize, wer

pytestmark = [pytest.mark.integration, pytest.mark.speech]

SILENCE = b"\0" * 32000  # one second


@pytest.fixture(scope="module")
def whisper() -> WhisperSTT:
    stt = WhisperSTT()
    stt.start()
    return stt


@pytest.fixture(scope="module")
def sentences() -> list[tuple[bytes, str]]:
    return clips()[:2]


def grok(fake: FakeXAI, **kw: Any) -> GrokSTT:
    return GrokSTT(XAIConfig(api_key=fake.key, base_url=fake.base_url,
                             **{"stall_s": 1.5, "connect_timeout_s": 2.0, **kw}))


def feed(stream: Any, pcm: bytes, chunk_ms: int = 40, pace: float = 0.0) -> list[SpeechEvent]:
    """Push audio in chunks as a microphone would (`pace` s between chunks), then flush."""
    events: list[SpeechEvent] = []
    step = 32 * chunk_ms
    for i in range(0, len(pcm), step):
        events += stream.push(pcm[i:i + step])
        if pace:
            time.sleep(pace)
    return events + stream.flush()


def finals(events: list[SpeechEvent]) -> list[SpeechEvent]:
    return [e for e in events if e.kind == "final"]


def test_the_handshake_audio_and_events_follow_the_protocol(fake: FakeXAI,
                                                            sentences: list[tuple[bytes, str]]) -> None:
    pcm, ref = sentences[0]
    fake.script = [ref]
    billed: list[tuple[str, str, float]] = []
    stream = grok(fake).stream("en", "s1", StreamOptions(
        keyterms=("LiveKit", "Grok"), on_usage=lambda *a: billed.append(a)))
    events = feed(stream, SILENCE + pcm + SILENCE * 2, pace=0.002)
    assert len(fake.stt_turns) == 1
    turn = fake.stt_turns[0]
    assert turn["headers"]["Authorization"] == f"Bearer {fake.key}"
    assert turn["query"] == {"sample_rate": ["16000"], "encoding": ["pcm"],
                             "interim_results": ["true"], "endpointing": ["256"], "language": ["en"],
                             "keyterm": ["LiveKit", "Grok"]}
    assert turn["done"]
    # VAD gating: the leading and trailing seconds of silence were never sent.
    sent_s = turn["audio_bytes"] / 32000
    assert len(pcm) / 32000 - 0.5 < sent_s < len(pcm) / 32000 + 1.0, sent_s
    interims = [e for e in events if e.kind == "interim"]
    assert interims and all(e.utterance_key == "s1:0" for e in interims)
    [final] = finals(events)
    assert (final.text, final.utterance_key, final.engine) == (ref, "s1:0", "grok")
    assert final.speech_end_at is not None
    assert billed == [("grok", "audio_seconds", pytest.approx(sent_s, abs=0.01))]


def test_a_whole_clip_is_one_turn(fake: FakeXAI, sentences: list[tuple[bytes, str]]) -> None:
    pcm, ref = sentences[0]
    fake.script = [ref]
    text, _ = grok(fake).transcribe(pcm, "en")
    assert text == ref
    [turn] = fake.stt_turns
    assert turn["done"] and turn["audio_bytes"] == len(pcm)


def test_each_utterance_is_its_own_turn_and_the_text_may_come_in_done(
        fake: FakeXAI, sentences: list[tuple[bytes, str]]) -> None:
    fake.script = [r for _, r in sentences]
    fake.text_in_done = True
    stream = grok(fake).stream("en", "s2")
    events = feed(stream, SILENCE.join(p for p, _ in sentences) + SILENCE * 2)
    assert [e.text for e in finals(events)] == [r for _, r in sentences]
    assert [e.utterance_key for e in finals(events)] == ["s2:0", "s2:1"]
    assert len(fake.stt_turns) == 2


def test_the_providers_endpointing_ends_an_utterance_sooner(
        fake: FakeXAI, sentences: list[tuple[bytes, str]]) -> None:
    """With `speech_final` after a short pause on words that look finished, `audio.done` goes
    ~400 ms sooner than our VAD's long pause would send it; on words that stop short ("Turn to
    the …") the long pause still decides, as for the local engine."""
    pcm, ref = sentences[0]
    sent: dict[tuple[bool, str], float] = {}
    for endpointing, said in ((False, ref), (True, ref), (True, "Turn to the")):
        fake.reset()
        fake.script = [said]
        fake.endpointing = endpointing
        stream = grok(fake).stream("en", "e")
        events = feed(stream, SILENCE + pcm + SILENCE * 2, pace=0.003)
        assert [e.text for e in finals(events)] == [said + ("." if endpointing else "")]
        sent[(endpointing, said)] = fake.stt_turns[0]["audio_bytes"] / 32
    long_pause = sent[(False, ref)]
    assert long_pause - sent[(True, ref)] > 200, sent  # ms of trailing pause not sent nor waited for
    assert abs(long_pause - sent[(True, "Turn to the")]) < 100, sent


def failover(fake: FakeXAI, whisper: WhisperSTT, **kw: Any) -> tuple[FailoverStream, Cooldowns]:
    cooldowns = Cooldowns(kw.pop("cooldown_s", 30.0))
    return FailoverStream([grok(fake, **kw), whisper], cooldowns, "en", "f", StreamOptions()), cooldowns


def assert_completed_once_by_whisper(events: list[SpeechEvent], ref: str) -> None:
    said = finals(events)  # Whisper may commit the sentence in segments: parts 0..n of one key
    assert said and all(f.engine == "local" for f in said)
    assert [f.part for f in said] == list(range(len(said)))
    text = " ".join(f.text for f in said)
    edits, words = wer(normalize(ref), normalize(text))
    assert edits / words <= 0.15, (text, ref)
    # The interims the room saw and the finals that complete them share one key.
    keys = {e.utterance_key for e in events if e.kind != "notice"}
    assert keys == {said[0].utterance_key}, keys
    notices = [e for e in events if e.kind == "notice"]
    assert [(n.text, n.engine, n.previous) for n in notices] == [("stt_fallback", "local", "grok")]


def test_a_stream_dropped_mid_sentence_is_completed_once_by_whisper(
        fake: FakeXAI, whisper: WhisperSTT, sentences: list[tuple[bytes, str]]) -> None:
    pcm, ref = sentences[0]
    fake.script = [ref]
    fake.drop_after_bytes = len(pcm) // 2  # in the middle of the sentence
    stream, cooldowns = failover(fake, whisper)
    events = feed(stream, SILENCE + pcm + SILENCE * 2, pace=0.002)
    assert [e for e in events if e.kind == "interim" and e.engine == "grok"], "no interim before the drop"
    assert_completed_once_by_whisper(events, ref)
    assert not cooldowns.up("grok")
    assert fake.stt_turns[0]["done"] is False


def test_an_error_event_or_a_malformed_frame_falls_over_too(
        fake: FakeXAI, whisper: WhisperSTT, sentences: list[tuple[bytes, str]]) -> None:
    pcm, ref = sentences[0]
    for knob in ("error_after_bytes", "malformed"):
        fake.reset()
        setattr(fake, knob, 32000 if knob == "error_after_bytes" else True)
        stream, _ = failover(fake, whisper)
        assert_completed_once_by_whisper(feed(stream, SILENCE + pcm + SILENCE * 2), ref)


@pytest.mark.parametrize("where", ["before the stream opens", "after the end was sent"])
def test_a_stall_is_detected_within_the_bound(where: str, fake: FakeXAI, whisper: WhisperSTT,
                                              sentences: list[tuple[bytes, str]],
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Bound: the connect timeout (1 s) when the provider never says `transcript.created`; the
    stall bound (1 s) after `audio.done` when it goes quiet then. Whisper's replay comes after."""
    pcm, ref = sentences[0]
    fake.script = [ref]
    stream, _ = failover(fake, whisper, stall_s=1.0, connect_timeout_s=1.0)
    if where == "before the stream opens":
        fake.stall = True  # accepts the connection, never speaks
    else:
        fake.delays = {"stt": 30.0}  # takes the audio, then nothing after audio.done
    with caplog.at_level(logging.WARNING):
        events = feed(stream, SILENCE + pcm + SILENCE * 2)  # faster than real time
    assert_completed_once_by_whisper(events, ref)
    [failed] = [r for r in caplog.records if r.getMessage() == "xAI speech stream failed"]
    waited = failed.created - (fake.stt_turns[0]["opened_at"] if where.startswith("before")
                               else fake.stt_turns[0]["done_at"])
    assert 0.5 < waited < 1.6, waited  # (the fake notes a turn a little after we open it)
    assert "stalled" in failed.reason or "in time" in failed.reason  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [401, 429, 500])
def test_refusals_fall_back_with_a_clear_log_line(status: int, fake: FakeXAI, whisper: WhisperSTT,
                                                  sentences: list[tuple[bytes, str]],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    pcm, ref = sentences[0]
    fake.script = [ref]
    fake.refuse = status
    stream, _ = failover(fake, whisper)
    with caplog.at_level(logging.WARNING):
        events = feed(stream, SILENCE + pcm + SILENCE * 2)
    assert_completed_once_by_whisper(events, ref)
    assert fake.refused and fake.refused[0][1] == status
    lines = [r for r in caplog.records if r.getMessage() == "xAI refused a request"]
    assert lines and lines[0].status == status  # type: ignore[attr-defined]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert fake.key not in logged and "xa***" not in logged
    assert not any(w in logged.lower() for w in normalize(ref) if len(w) > 5)


def test_a_wrong_key_is_refused_like_xai_does(fake: FakeXAI, whisper: WhisperSTT,
                                              sentences: list[tuple[bytes, str]]) -> None:
    pcm, ref = sentences[0]
    stream = FailoverStream([GrokSTT(XAIConfig(api_key="xai-wrong", base_url=fake.base_url)), whisper],
                            Cooldowns(30), "en", "k", StreamOptions())
    assert_completed_once_by_whisper(feed(stream, SILENCE + pcm + SILENCE * 2), ref)
    assert fake.refused == [("stt", 400)]


def test_the_budget_cap_stops_sending_audio(fake: FakeXAI, whisper: WhisperSTT,
                                            sentences: list[tuple[bytes, str]]) -> None:
    pcm, ref = sentences[0]
    spent = {"audio_seconds": True}
    stream, _ = failover(fake, whisper, spent=lambda unit: spent.get(unit, False))
    events = feed(stream, SILENCE + pcm + SILENCE * 2)
    assert fake.stt_turns == [] and fake.requests == 0  # nothing sent to the provider
    assert finals(events) and all(f.engine == "local" for f in finals(events))
    assert [(n.text, n.engine) for n in events if n.kind == "notice"] == [("budget_reached", "local")]


def test_recognition_returns_to_grok_between_utterances_after_the_cooldown(
        fake: FakeXAI, whisper: WhisperSTT, sentences: list[tuple[bytes, str]]) -> None:
    (one, ref1), (two, ref2) = sentences
    fake.script = [ref1, ref2]
    fake.drop_after_bytes = len(one) // 2
    stream, _ = failover(fake, whisper, cooldown_s=0.5)
    events = feed(stream, SILENCE + one + SILENCE * 2)
    fake.drop_after_bytes = None
    time.sleep(0.6)
    events += feed(stream, SILENCE + two + SILENCE * 2)
    # (an utterance's first final stands for its segments)
    got = [(e.kind, e.engine) for e in events if e.kind == "notice" or (e.kind == "final" and not e.part)]
    assert got == [("notice", "local"), ("final", "local"), ("notice", "grok"), ("final", "grok")]
    assert [f.text for f in finals(events) if f.engine == "grok"] == [ref2]
    assert len({e.utterance_key for e in finals(events)}) == 2
