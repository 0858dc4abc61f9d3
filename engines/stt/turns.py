"""Speech streams of remote providers, gated by local VAD: one provider call per utterance (a
"turn"), so silence is never sent (what is not sent is not billed).

Local VAD (Silero, engines.stt.vad) decides where an utterance starts and ends: a turn is opened
when speech starts, fed that speech (with the pre-roll before it), ended when the VAD hears the end
(a long pause, or a short one the provider marks as the end of speech after words that look
finished), and its final arrives while the next utterance may already be under way. Finals come
out in the order the utterances were said. A provider supplies its turns (`TurnSTT.turn`): Grok a
WebSocket per turn (providers/xai/stt.py), Google a streaming gRPC call (providers/google/stt.py).

Segments: what a provider locks while the person speaks (Grok's locked chunks, Google's `is_final`
results) is committed at once as a final of its own (the utterance's next `part`): each lock
(`segment_by = "lock"`), or locked text gathered up to a sentence's end (`"sentence"`). The turn's
end adds the last segment, only the words no lock said (a provider's end may repeat them); the
interims are the words after the segments.

A turn that fails or stalls raises its EngineError from push/poll/flush: the failover stream above
(stt/fallback.py) then replays the utterance to the next engine.
"""
from __future__ import annotations

import bisect
import dataclasses
import queue
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from engines.stt.base import SAMPLE_RATE, SpeechEvent, SpeechStream, StreamOptions
from engines.stt.commit import SegmentRules, boundary
from engines.stt.endpointing import looks_finished
from engines.stt.vad import CHUNK_BYTES, CHUNK_MS, Segmenter, VadConfig

# "sentence": locked text is a segment at a sentence's end; at a clause's end (, ; :) once it has
# CLAUSE_WORDS words; with neither, once it has MAX_HELD_WORDS words (up to its last word that can
# end a phrase, as the local recogniser's segments: engines.stt.commit) or spans MAX_HELD_MS.
CLAUSE_WORDS = 4
MAX_HELD_WORDS = 7
MAX_HELD_MS = 5000.0
_RULES = SegmentRules(clause_words=CLAUSE_WORDS, max_words=MAX_HELD_WORDS)
# A lock whose audio starts this much before the locked audio ends says some of it again.
OVERLAP_MS = 250.0
_TOKEN = re.compile(r"\w+(?:'\w+)?")


@dataclass(frozen=True)
class Lock:
    """Text a provider made final, with where its audio starts and ends (ms of the turn's audio,
    from its first byte sent; None when the provider does not say)."""

    text: str
    end_ms: float | None = None
    start_ms: float | None = None
    word_ends: tuple[float, ...] = ()  # each word's end (turn ms), when the provider says
    ends_turn: bool = False  # the provider says the speaker stopped (xAI's speech_final)


class Turn(Protocol):
    """One utterance on one provider call, its events collected on a thread of its own."""

    locked: list[str]  # the texts the provider has made final so far, as it sent them
    # The provider's text at the end, once it has answered it: the whole utterance, only what its
    # locks did not say, or empty. Set after the last lock is queued.
    result: str | None
    speech_final_at: float  # monotonic time the provider last said the speaker stopped (0: never)
    sent_bytes: int  # audio sent and not yet metered
    finished_at: float | None  # monotonic time the end was sent

    def send(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...

    def check(self, deadline: float | None = None) -> None:
        """Raise the turn's EngineError (a failure, or the provider gone quiet)."""

    def drain(self) -> list[tuple[str, Any]]:
        """The events since the last drain, in order: ("lock", Lock) for text made final, and
        ("interim", text) for the provider's guess of the words after its locks."""

    def abort(self) -> None: ...


def drain(events: queue.Queue[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A turn's events since the last drain, from the queue its reader thread fills."""
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


def _norm(word: str) -> str:
    """A word as compared: lower case, accents and punctuation dropped."""
    text = unicodedata.normalize("NFKD", word.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return "".join(_TOKEN.findall(text)) or word


def unsaid(said: list[str], text: str) -> list[str]:
    """The words of `text` that `said` has not: what `text` begins with that repeats the end of
    `said` (all of it, or its last words; as written, or with one word in four changed) is dropped.
    An overlap counts from three words (or all of a shorter `said`), so a speaker's own "no, no"
    at the start of the rest stays."""
    words = text.split()
    if not said or not words:
        return words
    a, b = [_norm(w) for w in said], [_norm(w) for w in words]
    # cost[j]: the fewest edits between words[:j] and some end of `said` (its start skipped free).
    cost = list(range(len(b) + 1))
    for x in a:
        row = [0]
        for j, y in enumerate(b, 1):
            row.append(min(cost[j - 1] + (x != y), cost[j] + 1, row[j - 1] + 1))
        cost = row
    j = max(range(len(b) + 1), key=lambda k: (k - 2 * cost[k], -k))  # the best overlap, shortest
    if j and cost[j] <= j // 4 and j - cost[j] >= min(3, len(a)):
        return words[j:]
    return words


class Words:
    """An utterance's words as its provider locked them, each once: a lock whose audio starts
    before the locked audio ends (a provider that repeats what it locked) and the end's text are
    taken only for the words they add."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.ends: list[float | None] = []  # each said word's end (turn ms), where known
        self.end_ms = 0.0  # where the locked audio ends (turn ms; 0: not known)

    def lock(self, lock: Lock) -> list[str]:
        """The words `lock` adds."""
        again = lock.start_ms is None or lock.start_ms < self.end_ms - OVERLAP_MS
        words = lock.text.split()
        new = unsaid(self.said, lock.text) if again else words
        self.said += new
        timed = len(lock.word_ends) == len(words) and new
        self.ends += list(lock.word_ends[len(words) - len(new):]) if timed else [None] * len(new)
        if lock.end_ms is not None and new:
            self.end_ms = max(self.end_ms, lock.end_ms)
        return new

    def rest(self, text: str) -> list[str]:
        """The words of `text` (the end's, or an interim's) no lock said."""
        return unsaid(self.said, text)


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
        words = Words()
        for kind, value in turn.drain():
            if kind == "lock":
                words.lock(value)
        return " ".join(words.said + words.rest(turn.result))
    finally:
        turn.abort()


class TurnSTT(Protocol):
    name: str
    vad_config: VadConfig
    # "lock": each lock is a segment; "sentence": locked text is gathered up to a sentence's end.
    segment_by: Literal["lock", "sentence"]

    def turn(self, language: str, keyterms: tuple[str, ...],
             wake: Callable[[], None] | None = None) -> Turn: ...


@dataclass
class _Utterance:
    """A turn as the stream sees it: its key, where its audio starts, and its segments so far."""

    turn: Turn
    key: str
    start: float  # stream ms of the turn's first audio
    words: Words = field(default_factory=Words)
    held: list[str] = field(default_factory=list)  # locked words not yet a segment
    part: int = 0  # the next segment's number
    cut: float = 0.0  # turn ms where the last segment ended
    shown: tuple[int, str] = (0, "")  # the last interim (part, text)
    end: float | None = None  # stream ms where it ended (set when its turn was ended)
    voice_end: float = 0.0  # epoch ms its voice was last heard (set when its turn was ended)
    over: bool = False  # a lock said the speaker stopped: what is left goes out whole at the end


class TurnStream(SpeechStream):
    """One speaker's stream: VAD-gated turns, their interims and segment finals in order."""

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
        self._turn: _Utterance | None = None
        self._closing: list[_Utterance] = []  # ended, their last segment awaited
        self._clock: list[tuple[float, float]] = []  # (stream ms, epoch ms) each chunk was heard
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
        self._tick()
        cfg = self.stt.vad_config
        if state == "silence":
            self._pre_roll.append(chunk)
            del self._pre_roll[:-int(cfg.pre_roll_ms // CHUNK_MS) or None]
            return
        if state == "start":
            audio = b"".join(self._pre_roll) + chunk
            self._pre_roll.clear()
            turn = self.stt.turn(self.language, self.options.keyterms, self.options.wake)
            self._turn = _Utterance(turn, f"{self.key_prefix}:{self._count}",
                                    self._audio_ms - len(audio) / 32)
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
            turn = self._turn.turn
            early = (self.seg.silent_ms >= cfg.min_silence_ms and turn.speech_final_at > self._voice_at
                     and looks_finished(" ".join(turn.locked), self.language))
            if state == "end" or early or self._voiced_ms >= cfg.max_utterance_ms:
                self._end_turn()

    def _tick(self) -> None:
        """Note when this chunk was heard, keeping the times of the audio of turns in flight
        (and of a pre-roll's worth before)."""
        self._clock.append((self._audio_ms, time.time() * 1000))
        starts = [u.start for u in self._closing] + ([self._turn.start] if self._turn else [])
        floor = min(starts, default=self._audio_ms - self.stt.vad_config.pre_roll_ms - CHUNK_MS)
        del self._clock[:bisect.bisect_left(self._clock, (floor, 0.0))]

    def _heard_at(self, stream_ms: float) -> float | None:
        """The epoch ms the chunk holding stream time `stream_ms` was heard (None: not kept)."""
        i = bisect.bisect_left(self._clock, (stream_ms, 0.0))
        return self._clock[i][1] if i < len(self._clock) else None

    def _send(self, audio: bytes) -> None:
        assert self._turn is not None
        self._turn.turn.send(audio)
        self.sent_ms += len(audio) / 32

    def _end_turn(self) -> None:
        assert self._turn is not None
        u = self._turn
        u.turn.finish()
        u.end, u.voice_end = self._audio_ms, self._last_voice_wall
        self._closing.append(u)
        self._turn = None
        if self.seg.in_speech:
            self.seg.reset()

    def poll(self) -> list[SpeechEvent]:
        """Interims and segments of the turns in flight and the last segments of those done,
        oldest first (a newer turn's events wait until the older one is done); raises the EngineError
        of the first turn that failed or stalled."""
        events: list[SpeechEvent] = []
        while self._closing:
            u = self._closing[0]
            answered = u.turn.result is not None  # before the drain: its every lock is queued
            events += self._heard(u)
            u.turn.check()
            if not answered:
                return events
            self._closing.pop(0)
            self._billed(u.turn)
            events += self._last(u)
        if self._turn is not None:
            events += self._heard(self._turn)
            self._turn.turn.check()
        return events

    def _heard(self, u: _Utterance) -> list[SpeechEvent]:
        """A turn's new locks as segments (when they make one), and the interim after them."""
        events: list[SpeechEvent] = []
        tail: list[str] | None = None
        for kind, value in u.turn.drain():
            if kind == "lock":
                u.held += u.words.lock(value)
                u.over = u.over or value.ends_turn
                tail = []
                while n := self._ready(u):
                    events.append(self._segment(u, n))
            elif kind == "interim":
                tail = u.words.rest(value)
        if tail is not None:
            text = " ".join(u.held + tail)
            if text and (u.part, text) != u.shown:
                u.shown = (u.part, text)
                end = u.end if u.end is not None else self._audio_ms
                events.append(SpeechEvent("interim", text, self.language, u.key, u.start + u.cut,
                                          end, 0.0, engine=self.stt.name, part=u.part))
        return events

    def _ready(self, u: _Utterance) -> int:
        """How many of the locked words held make a segment now (0: none): in "sentence" mode, as
        the local recogniser cuts its committed words (engines.stt.commit.boundary): up to the last
        sentence or clause end in them (a lock of ~3 s often ends a sentence and begins the next),
        else from MAX_HELD_WORDS words on up to the last word that can end a phrase; all of them
        once they span MAX_HELD_MS."""
        if not u.held or self.stt.segment_by == "lock":
            return len(u.held)
        text = " ".join(u.held)
        chars = boundary(text, self.language, _RULES)
        if u.end is not None or u.over:
            # The speaker stopped: no cut for length; a finished phrase now, else the rest goes
            # out whole with the turn's end (its last words may still come in its answer).
            return len(u.held) if chars == len(text) else 0
        if chars:
            return len(text[:chars].split())
        return len(u.held) if u.words.end_ms - u.cut >= MAX_HELD_MS else 0

    def _segment(self, u: _Utterance, n: int) -> SpeechEvent:
        """The first `n` held words as a segment of a turn still going: it ends where its last
        word's audio does (where the provider did not say: where the locked audio ends, or, for
        part of it, at the share of that audio its words are), no later than what was heard, and
        never before the segment before it."""
        limit = u.end if u.end is not None else self._audio_ms
        locked_end = u.words.end_ms or u.cut
        word_end = u.words.ends[len(u.words.said) - len(u.held) + n - 1]
        if word_end is None:
            word_end = u.cut + (locked_end - u.cut) * n / len(u.held)
        end = max(u.start + u.cut, min(u.start + word_end, limit))
        voice = u.voice_end if u.end is not None else self._last_voice_wall
        heard = min(self._heard_at(end) or voice, voice) or None
        decode = max(0.0, time.time() * 1000 - heard) if heard else 0.0
        event = SpeechEvent("final", " ".join(u.held[:n]), self.language, u.key, u.start + u.cut,
                            end, decode, speech_end_at=heard, engine=self.stt.name, part=u.part)
        u.held, u.part, u.cut = u.held[n:], u.part + 1, end - u.start
        return event

    def _last(self, u: _Utterance) -> list[SpeechEvent]:
        """A turn's end: its last segment, the words no segment had (none when nothing is left:
        the utterance has ended all the same)."""
        assert u.turn.result is not None and u.end is not None
        words = u.held + u.words.rest(u.turn.result)
        if not words:
            return []
        decode = (time.monotonic() - (u.turn.finished_at or time.monotonic())) * 1000
        return [SpeechEvent("final", " ".join(words), self.language, u.key, u.start + u.cut, u.end,
                            decode, speech_end_at=u.voice_end or None, engine=self.stt.name,
                            part=u.part)]

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
        turns = [u.turn for u in self._closing] + ([self._turn.turn] if self._turn else [])
        for turn in turns:
            turn.abort()
            self._billed(turn)
        self._closing.clear()
        self._turn = None
