"""unit: the failover stream's bookkeeping — which caption a replayed utterance completes, what
audio is replayed, when it moves back — with small in-test streams whose utterances are marked
in the audio itself (one byte value per utterance, 0 for silence), so what was replayed can be
read back. The real engines are tested against the fake xAI server in tests/providers/."""
from __future__ import annotations

import time
from typing import Any

import pytest

from engines.errors import EngineConnectionError
from engines.registry import Cooldowns
from engines.stt.base import STT, SpeechEvent, SpeechStream, StreamOptions, STTCapabilities
from engines.stt.fallback import FailoverStream

pytestmark = pytest.mark.unit

MS = 32  # bytes of 16 kHz PCM16 per millisecond


class Marked(STT):
    """Utterances are runs of one non-zero byte value; an interim when one starts, a final when
    silence follows it (its text: the value and how many ms were heard). `fail_on` fails the
    stream on the first audio of that value, `empty` finalizes that value with no text."""

    def __init__(self, name: str, fail_on: int = -1, empty: int = -1, segment_ms: int = 0) -> None:
        self.name, self.fail_on, self.empty, self.heard = name, fail_on, empty, bytearray()
        self.segment_ms = segment_ms  # commit a segment every this many ms of an utterance

    @property
    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(streaming=True, interim_results=True, offline=True,
                               languages=frozenset({"en"}))

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        raise NotImplementedError

    def stream(self, language: str, key_prefix: str, options: Any = None) -> SpeechStream:
        return _Stream(self, key_prefix)


class _Stream(SpeechStream):
    def __init__(self, stt: Marked, prefix: str) -> None:
        self.stt, self.prefix, self.ms, self.n, self.cur, self.count = stt, prefix, 0.0, 0, 0, 0
        self.part = self.segment_count = 0

    @property
    def idle(self) -> bool:
        return self.cur == 0

    def push(self, pcm16: bytes) -> list[SpeechEvent]:
        out: list[SpeechEvent] = []
        for i in range(0, len(pcm16), MS):
            value = pcm16[i]
            self.stt.heard.append(value)
            self.ms += 1
            if value == self.stt.fail_on:
                raise EngineConnectionError("dropped", engine=self.stt.name)
            if value and value != self.cur:
                out += self._end()
                self.cur, self.count = value, 0
                out.append(self._event("interim", f"{value}…"))
            if value:
                self.count += 1
                if self.stt.segment_ms and self.count - self.segment_count == self.stt.segment_ms:
                    out.append(self._event("final", f"{value}x{self.stt.segment_ms}"))
                    self.part, self.segment_count = self.part + 1, self.count
                    out.append(self._event("interim", f"{value}…"))
            elif self.cur:
                out += self._end()
        return out

    def _event(self, kind: Any, text: str) -> SpeechEvent:
        return SpeechEvent(kind, text, "en", f"{self.prefix}:{self.n}", 0, self.ms, 0,
                           engine=self.stt.name, part=self.part)

    def _end(self) -> list[SpeechEvent]:
        if not self.cur:
            return []
        rest = self.count - self.segment_count
        text = "" if self.cur == self.stt.empty or not rest else f"{self.cur}x{rest}"
        event = [self._event("final", text)] if text else []
        self.n, self.cur, self.part, self.segment_count = self.n + 1, 0, 0, 0
        return event

    def flush(self) -> list[SpeechEvent]:
        return self._end()


def audio(*parts: tuple[int, int]) -> bytes:
    """(value, ms) runs."""
    return b"".join(bytes([v]) * (MS * ms) for v, ms in parts)


def run(stream: FailoverStream, pcm: bytes, step_ms: int = 20) -> list[SpeechEvent]:
    out: list[SpeechEvent] = []
    for i in range(0, len(pcm), MS * step_ms):
        out += stream.push(pcm[i:i + MS * step_ms])
    return out + stream.flush()


def test_a_drop_replays_the_utterance_from_its_start_under_the_key_shown() -> None:
    grok, local = Marked("grok", fail_on=3), Marked("local")
    s = FailoverStream([grok, local], Cooldowns(30), "en", "k", StreamOptions())
    events = run(s, audio((0, 100), (1, 200), (0, 100), (2, 200), (3, 50), (0, 100)))
    finals = [(e.text, e.utterance_key, e.engine) for e in events if e.kind == "final"]
    # Utterance 1 was Grok's; utterance 2 (in flight, interim shown as k:1) is completed once by
    # local from its start (all 200 ms), and the audio after the drop follows as its own.
    assert finals == [("1x200", "k:0", "grok"), ("2x200", "k:1", "local"), ("3x50", "k~1:1", "local")]
    assert [(e.text, e.engine, e.previous) for e in events if e.kind == "notice"] == [
        ("stt_fallback", "local", "grok")]
    # What local heard: from the end of utterance 1 on, not utterance 1 again.
    assert 1 not in set(local.heard) and local.heard.count(2) == 200


def test_an_utterance_that_ended_without_text_does_not_take_a_later_caption() -> None:
    grok, local = Marked("grok", fail_on=3, empty=1), Marked("local")
    s = FailoverStream([grok, local], Cooldowns(30), "en", "k", StreamOptions())
    events = run(s, audio((1, 100), (0, 100), (2, 100), (0, 100), (4, 100), (3, 10), (0, 100)))
    finals = [(e.text, e.utterance_key) for e in events if e.kind == "final"]
    # k:0 showed an interim and ended empty; the final of k:1 closes it; the replay completes k:2.
    assert finals[:2] == [("2x100", "k:1"), ("4x100", "k:2")]


def test_recognition_moves_back_between_utterances_once_the_cooldown_is_over() -> None:
    grok, local = Marked("grok", fail_on=3), Marked("local")
    s = FailoverStream([grok, local], Cooldowns(0.2), "en", "k", StreamOptions())
    events = run(s, audio((3, 20), (0, 100)))
    grok.fail_on = -1
    events += run(s, audio((0, 40)))
    assert not [e for e in events if e.engine == "grok" and e.kind == "notice"]  # still cooling
    time.sleep(0.25)
    events += run(s, audio((0, 40), (5, 200), (0, 100)))
    assert [(e.kind, e.engine) for e in events if e.kind != "interim"] == [
        ("notice", "local"), ("final", "local"), ("notice", "grok"), ("final", "grok")]
    assert [e.text for e in events if e.kind == "final"][1] == "5x200"


def test_a_replay_after_segments_continues_the_utterance_from_its_last_segment() -> None:
    grok, local = Marked("grok", fail_on=3, segment_ms=100), Marked("local")
    s = FailoverStream([grok, local], Cooldowns(30), "en", "k", StreamOptions())
    events = run(s, audio((0, 100), (2, 250), (3, 10), (0, 100)))
    finals = [(e.text, e.utterance_key, e.part, e.engine) for e in events if e.kind == "final"]
    # Two segments were committed by Grok; after the drop, local hears only the rest of the
    # utterance (50 ms) and completes it as its next part, under the same key.
    assert finals == [("2x100", "k:0", 0, "grok"), ("2x100", "k:0", 1, "grok"),
                      ("2x50", "k:0", 2, "local"), ("3x10", "k~1:1", 0, "local")]
    assert local.heard.count(2) == 50
