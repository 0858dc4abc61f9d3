"""Speech streams of remote providers, gated by local VAD: one provider call per utterance (a
"turn"), so silence is never sent (what is not sent is not billed).

Local VAD (Silero, engines.stt.vad) decides where an utterance starts and ends: a turn is opened
when speech starts, fed that speech (with the pre-roll before it), ended when the VAD hears the end
(a long pause, or a short one the provider marks as the end of speech after words that look
finished), and its final arrives while the next utterance may already be under way. Finals come
out in the order the utterances were said. A provider supplies its turns (`TurnSTT.turn`): Grok a
WebSocket per turn (stt/grok.py), Google a streaming gRPC call (stt/google.py).

A turn that fails or stalls raises its EngineError from push/poll/flush: the failover stream above
(stt/fallback.py) then replays the utterance to the next engine.
"""
from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

from engines.stt.base import SAMPLE_RATE, SpeechEvent, SpeechStream, StreamOptions
from engines.stt.endpointing import looks_finished
from engines.stt.vad import CHUNK_BYTES, CHUNK_MS, Segmenter, VadConfig


class Turn(Protocol):
    """One utterance on one provider call, its events collected on a thread of its own."""

    locked: list[str]  # the text the provider has made final so far
    result: str | None  # the whole text, once the provider has answered the end
    speech_final_at: float  # monotonic time the provider last said the speaker stopped (0: never)
    sent_bytes: int  # audio sent and not yet metered
    finished_at: float | None  # monotonic time the end was sent

    def send(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...

    def check(self, deadline: float | None = None) -> None:
        """Raise the turn's EngineError (a failure, or the provider gone quiet)."""

    def drain(self) -> list[tuple[str, str]]:
        """The ("interim", text) events since the last drain."""

    def abort(self) -> None: ...


def drain(events: queue.Queue[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A turn's events since the last drain, from the queue its reader thread fills."""
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


def whole_clip(turn: Turn, pcm16: bytes, wait_s: float) -> str:
    """A clip as one turn (`STT.transcribe`): sent, ended, and its text waited for up to `wait_s`
    (or the turn's own stall limits); the turn is let go either way."""
    try:
        turn.send(pcm16)
        turn.finish()
        deadline = time.monotonic() + wait_s
        while turn.result is None:
            turn.check(deadline)
            time.sleep(0.01)
        return turn.result
    finally:
        turn.abort()


class TurnSTT(Protocol):
    name: str
    vad_config: VadConfig

    def turn(self, language: str, keyterms: tuple[str, ...],
             wake: Callable[[], None] | None = None) -> Turn: ...


class TurnStream(SpeechStream):
    """One speaker's stream: VAD-gated turns, their interims and finals in order."""

    def __init__(self, stt: TurnSTT, language: str, key_prefix: str, options: StreamOptions) -> None:
        self.stt = stt
        self.language = language
        self.key_prefix = key_prefix
        self.options = options
        self.seg = Segmenter(stt.vad_config)
        self._pending = b""
        self._pre_roll: list[bytes] = []
        self._count = 0
        self._audio_ms = 0.0
        self._turn: tuple[Turn, str, float] | None = None  # (turn, key, start ms)
        # + wall time speech ended, stream time (ms) the utterance ended
        self._closing: list[tuple[Turn, str, float, float, float]] = []
        self._last_voice_wall = 0.0
        self._voice_at = 0.0  # monotonic time voice was last heard
        self._voiced_ms = 0.0
        self.sent_ms = 0.0  # audio sent to the provider (billed)
        self.heard_ms = 0.0  # audio pushed in

    @property
    def idle(self) -> bool:
        return self._turn is None and not self._closing and not self.seg.in_speech

    def push(self, pcm16: bytes) -> list[SpeechEvent]:
        data = self._pending + pcm16
        whole = len(data) - len(data) % CHUNK_BYTES
        self._pending = data[whole:]
        for i in range(0, whole, CHUNK_BYTES):
            self._chunk(data[i:i + CHUNK_BYTES])
        return self.poll()

    def _chunk(self, chunk: bytes) -> None:
        state = self.seg.feed(chunk)
        self._audio_ms += CHUNK_MS
        self.heard_ms += CHUNK_MS
        cfg = self.stt.vad_config
        if state == "silence":
            self._pre_roll.append(chunk)
            del self._pre_roll[:-int(cfg.pre_roll_ms // CHUNK_MS) or None]
            return
        if state == "start":
            audio = b"".join(self._pre_roll) + chunk
            self._pre_roll.clear()
            turn = self.stt.turn(self.language, self.options.keyterms, self.options.wake)
            self._turn = (turn, f"{self.key_prefix}:{self._count}", self._audio_ms - len(audio) / 32)
            self._count += 1
            self._voiced_ms = 0.0
            self._send(audio)
        elif self._turn is not None:
            self._send(chunk)
        if self.seg.silent_ms == 0.0:
            self._last_voice_wall = time.time() * 1000
            self._voice_at = time.monotonic()
        if self._turn is not None:
            self._voiced_ms += CHUNK_MS
            # The end: our VAD's long pause; or a short one that the provider's own endpointing
            # calls the end of speech (`speech_final`) after words that look finished (as the
            # local engine judges a short pause: "Front … Left" stays one), ~400 ms sooner.
            turn = self._turn[0]
            early = (self.seg.silent_ms >= cfg.min_silence_ms and turn.speech_final_at > self._voice_at
                     and looks_finished(" ".join(turn.locked), self.language))
            if state == "end" or early or self._voiced_ms >= cfg.max_utterance_ms:
                self._end_turn()

    def _send(self, audio: bytes) -> None:
        assert self._turn is not None
        self._turn[0].send(audio)
        self.sent_ms += len(audio) / 32

    def _end_turn(self) -> None:
        assert self._turn is not None
        turn, key, start = self._turn
        turn.finish()
        self._closing.append((turn, key, start, self._last_voice_wall, self._audio_ms))
        self._turn = None
        if self.seg.in_speech:
            self.seg.reset()

    def poll(self) -> list[SpeechEvent]:
        """Interims of the turns in flight and the finals of those done, oldest first; raises
        the EngineError of the first turn that failed or stalled."""
        events: list[SpeechEvent] = []
        while self._closing:
            turn, key, start, voice_end, end_ms = self._closing[0]
            events += self._interims(turn, key, start)
            turn.check()
            if turn.result is None:
                return events
            self._closing.pop(0)
            self._billed(turn)
            if turn.result:
                decode = (time.monotonic() - (turn.finished_at or time.monotonic())) * 1000
                events.append(SpeechEvent("final", turn.result, self.language, key, start,
                                          end_ms, decode, speech_end_at=voice_end or None,
                                          engine=self.stt.name))
        if self._turn is not None:
            turn, key, start = self._turn
            events += self._interims(turn, key, start)
            turn.check()
        return events

    def _interims(self, turn: Turn, key: str, start: float) -> list[SpeechEvent]:
        return [SpeechEvent("interim", text, self.language, key, start, self._audio_ms, 0.0,
                            engine=self.stt.name)
                for kind, text in turn.drain() if kind == "interim" and text]

    def _billed(self, turn: Turn) -> None:
        if self.options.on_usage is not None and turn.sent_bytes:
            self.options.on_usage(self.stt.name, "audio_seconds", turn.sent_bytes / (SAMPLE_RATE * 2))
            turn.sent_bytes = 0

    def flush(self) -> list[SpeechEvent]:
        if self._pending and self._turn is not None:
            self._send(self._pending)
        self._pending = b""
        if self._turn is not None:
            self._end_turn()
        events: list[SpeechEvent] = []
        while self._closing:
            events += self.poll()
            if self._closing:
                time.sleep(0.01)
        return events

    def set_keyterms(self, terms: tuple[str, ...]) -> None:
        self.options = dataclasses.replace(self.options, keyterms=tuple(terms))

    def close(self) -> None:
        turns = [t for t, *_ in self._closing] + ([self._turn[0]] if self._turn else [])
        for turn in turns:
            turn.abort()
            self._billed(turn)
        self._closing.clear()
        self._turn = None
