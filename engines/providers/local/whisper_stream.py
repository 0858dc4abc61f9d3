"""Local streaming recognition: VAD-delimited utterances, committed in segments while the person
speaks.

Within an utterance the audio heard since the last segment is decoded again every step
(`interim_interval_ms` of new audio), with the words already committed forced as the start of
the text and the segments before as the decoder's prompt. What two consecutive steps agree on is
committed (engines.stt.commit); committed words that end a sentence or a long enough clause are
a **segment**: a final of its own (same utterance key, the next `part`), and the audio up to the
end of its last word (from the decoder's word alignment) is cut off, so every decode stays short.
The words after the last segment are the interim. A pause decodes at once: its words were heard
whole, so they are committed when speech goes on, and a pause after a finished phrase ends the
utterance (its last segment at once, as before segments).

Endpointing (engines.stt.endpointing): after a short pause (`min_silence_ms`) the utterance so
far is decoded; if the words look finished that is the last segment at once, otherwise the
stream waits up to `max_silence_ms`. So a finished sentence ends fast and "Front … Left" stays
one phrase.
"""
from __future__ import annotations

import time
from typing import Literal, Protocol

from engines.stt.base import SpeechEvent, SpeechStream
from engines.stt.commit import Hypothesis, SegmentRules, agreement, boundary, pieces
from engines.stt.endpointing import looks_finished
from engines.stt.vad import CHUNK_BYTES, CHUNK_MS, Segmenter, VadConfig


class Decoder(Protocol):
    """What the stream needs of its engine (engines.providers.local.whisper.WhisperSTT)."""

    name: str
    vad_config: VadConfig
    interim_interval_ms: float
    segments: SegmentRules | None

    def continue_utterance(self, pcm16: bytes, language: str, *, prefix: str = "",
                           context: str = "", final: bool,
                           align: bool = False) -> Hypothesis | None: ...

CONTEXT_CHARS = 300  # the segments kept as the decoder's prompt


class WhisperStream(SpeechStream):
    """One speaker's utterances on the local Whisper engine, in segments."""

    def __init__(self, stt: Decoder, language: str, key_prefix: str) -> None:
        self.stt = stt
        self.language = language
        self.key_prefix = key_prefix
        self.rules = stt.segments  # None: one final per utterance
        self.seg = Segmenter(stt.vad_config)
        self._pending = b""  # bytes not yet a whole VAD chunk
        self._pre_roll: list[bytes] = []
        self._audio = bytearray()  # the utterance's audio since its last segment's end
        self._count = 0
        self._audio_ms = 0.0
        self._start_ms = 0.0
        self._cut_ms = 0.0  # stream time of _audio[0]
        self._said_ms = 0.0  # stream time the words not yet in a segment start (the last cut)
        self._clock = (0.0, 0.0)  # (stream ms, wall ms) of the last chunk
        self._last_voice_wall = 0.0
        self._last_step = 0  # len(_audio) at the last decode
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._part = 0
        self._committed = ""  # agreed words after the last segment, forced as the decode's start
        self._previous: list[str] = []  # the last decode's pieces after the committed words
        self._context = ""  # this utterance's segments so far (the decoder's prompt)
        self._tentative: Hypothesis | None = None  # the current pause's decode
        self._shown = ""  # the last interim sent
        self._overlap = ""  # the last segment's final words, at the start of _audio again
        self._overlap_bytes = 0  # their audio

    @property
    def _key(self) -> str:
        return f"{self.key_prefix}:{self._count}"

    @property
    def idle(self) -> bool:
        return not self.seg.in_speech and not self._audio

    def push(self, pcm16: bytes) -> list[SpeechEvent]:
        events: list[SpeechEvent] = []
        data = self._pending + pcm16
        whole = len(data) - len(data) % CHUNK_BYTES
        self._pending = data[whole:]
        for i in range(0, whole, CHUNK_BYTES):
            events += self._chunk(data[i:i + CHUNK_BYTES])
        return events

    def _chunk(self, chunk: bytes) -> list[SpeechEvent]:
        state = self.seg.feed(chunk)
        self._audio_ms += CHUNK_MS
        self._clock = (self._audio_ms, time.time() * 1000)
        cfg = self.stt.vad_config
        if state == "silence":
            self._pre_roll.append(chunk)
            keep = int(cfg.pre_roll_ms // CHUNK_MS)
            del self._pre_roll[:-keep or None]
            return []
        self._audio += chunk
        if state == "start":
            self._audio[:0] = b"".join(self._pre_roll)
            self._pre_roll.clear()
            self._start_ms = self._cut_ms = self._said_ms = self._audio_ms - len(self._audio) / 32
        if state == "end" or len(self._audio) / 32 >= cfg.max_utterance_ms:
            return self._final()
        if self.seg.silent_ms == 0.0:
            self._last_voice_wall = self._clock[1]
            resumed, self._tentative = self._tentative, None
            if resumed is not None:
                # Speech went on after a pause: the pause's decode was a step after all.
                return self._advance(resumed, agreement(self._previous, pieces(resumed.text)))
            return self._maybe_step()
        if self._tentative is None and self.seg.silent_ms >= cfg.min_silence_ms:
            return self._pause()
        return []

    def _decode(self, *, final: bool, align: bool) -> Hypothesis | None:
        """Decode the audio since the last cut. It starts with the last segment's final words
        (`_overlap`, kept so the next words are not decoded cold): they are forced before the
        committed words and taken off the result again, so offsets count from the committed."""
        self._last_step = len(self._audio)
        align = align and self.rules is not None
        context = self._context
        if self._overlap and context.endswith(self._overlap):
            context = context[:-len(self._overlap)]
        h = self.stt.continue_utterance(bytes(self._audio), self.language,
                                        prefix=self._overlap + self._committed,
                                        context=context[-CONTEXT_CHARS:], final=final, align=align)
        if h is None or not self._overlap:
            return h
        shift = self._overlap_bytes / 32000
        if not any(c.isalnum() for c in h.text) and h.heard_s - shift >= 1.0:
            # Forced to read its neighbour again, Whisper can stop right after it and leave the
            # rest unsaid: the piece decoded alone, as without the overlap.
            h = self.stt.continue_utterance(bytes(self._audio[self._overlap_bytes:]), self.language,
                                            prefix=self._committed,
                                            context=self._context[-CONTEXT_CHARS:], final=final,
                                            align=align)
            return None if h is None else Hypothesis(
                h.text, h.decode_ms, tuple((o, a + shift, b + shift, w) for o, a, b, w in h.ends),
                h.head, h.heard_s + shift)
        n = len(self._overlap)
        if not h.head.startswith(self._overlap):
            return Hypothesis(h.text, h.decode_ms, (), "\0", h.heard_s)  # offsets unknown
        return Hypothesis(h.text, h.decode_ms,
                          tuple((o - n, a, b, w) for o, a, b, w in h.ends if o > n),
                          h.head[n:], h.heard_s)

    def _maybe_step(self) -> list[SpeechEvent]:
        grown_ms = (len(self._audio) - self._last_step) / 32
        if grown_ms < self.stt.interim_interval_ms or len(self._audio) / 32 < 600:
            return []
        h = self._decode(final=False, align=True)
        if h is None:
            return []
        return self._advance(h, agreement(self._previous, pieces(h.text)))

    def _pause(self) -> list[SpeechEvent]:
        """A short pause: decode now (no word timings: it ends the utterance or is a step that
        commits nothing); a finished-looking utterance ends at once."""
        h = self._decode(final=True, align=False)
        assert h is not None  # a final-priority decode always runs
        self._tentative = h
        said = self._context + self._committed + h.text
        if (self._committed + h.text).strip() and looks_finished(said, self.language):
            return self._final()
        return []

    def _advance(self, h: Hypothesis, agreed: int) -> list[SpeechEvent]:
        """Commit the first `agreed` pieces of a decode, make segments of what is ready, and show
        the rest as the interim (when it changed)."""
        current = pieces(h.text)
        if self.rules is not None:  # only words with enough audio after them
            agreed = min(agreed, _settled(h, current, self.rules.right_context_s))
            if (self._audio_ms - self._start_ms) / 1000 < self.rules.min_audio_s:
                agreed = 0
        self._committed += "".join(current[:agreed])
        self._previous = current[agreed:]
        events = self._segments(h) if self.rules is not None and h.head == self._committed[
            :len(h.head)] else []
        tail = (self._committed + "".join(self._previous)).strip()
        if tail and tail != self._shown:
            self._shown = tail
            events.append(self._event("interim", tail, h.decode_ms))
        return events

    def _segments(self, h: Hypothesis) -> list[SpeechEvent]:
        """The committed words that are ready, as segments, each cut from the audio."""
        assert self.rules is not None
        events: list[SpeechEvent] = []
        ends = list(h.ends)
        while (c := boundary(self._committed, self.language, self.rules, _pauses(ends))) > 0:
            cut_s = _cut_at(ends, c, len(self._audio) / 32000)
            if cut_s is None:
                break  # no timing for it: the next decode (or the final) takes it
            text = self._committed[:c]
            end_ms = self._cut_ms + cut_s * 1000
            events.append(self._event("final", text.strip(), h.decode_ms, start_ms=self._said_ms,
                                      end_ms=end_ms, speech_end_at=self._wall(end_ms)))
            self._part += 1
            keep_from, keep_s = _overlap_at(ends, c, cut_s, self.rules.overlap_s)
            cut = int(keep_s * 16000) * 2
            del self._audio[:cut]
            self._last_step = max(0, self._last_step - cut)
            self._cut_ms += keep_s * 1000
            self._said_ms = end_ms
            self._context += text
            self._overlap = text[keep_from:]
            self._overlap_bytes = int((cut_s - keep_s) * 16000) * 2 if self._overlap else 0
            self._committed = self._committed[c:]
            ends = [(o - c, s - keep_s, e - keep_s, w) for o, s, e, w in ends if o > c]
        return events

    def _wall(self, stream_ms: float) -> float:
        """The wall-clock time (epoch ms) a moment of the stream was heard."""
        at_ms, wall = self._clock
        return wall - (at_ms - stream_ms)

    def _event(self, kind: Literal["interim", "final"], text: str, ms: float, *,
               key: str | None = None, start_ms: float | None = None, end_ms: float | None = None,
               speech_end_at: float | None = None) -> SpeechEvent:
        return SpeechEvent(kind, text, self.language, key or self._key,
                           self._start_ms if start_ms is None else start_ms,
                           self._audio_ms if end_ms is None else end_ms, ms,
                           speech_end_at=speech_end_at, engine=self.stt.name, part=self._part)

    def _final(self) -> list[SpeechEvent]:
        """End the utterance: its last segment is everything after the segments before it (its
        pause's decode if nothing was said since, else a decode now)."""
        tentative, self._tentative = self._tentative, None
        h = tentative if tentative is not None else self._decode(final=True, align=False)
        assert h is not None
        text = (self._committed + h.text).strip()
        event = self._event("final", text, h.decode_ms, start_ms=self._said_ms,
                            speech_end_at=self._last_voice_wall or None) if text else None
        self._audio.clear()
        self._last_step = 0
        self.seg.reset()
        self._count += 1
        self._reset_utterance()
        return [event] if event is not None else []

    def flush(self) -> list[SpeechEvent]:
        if self._pending:
            self._audio += self._pending if self.seg.in_speech else b""
            self._pending = b""
        if not self.seg.in_speech or not self._audio:
            return []
        if self.seg.silent_ms == 0.0:
            self._tentative = None  # audio came after the pause's decode
        return self._final()


def _settled(h: Hypothesis, current: list[str], right_context_s: float) -> int:
    """How many leading pieces of a decode end at least `right_context_s` before the end of the
    audio it decoded (0 without word timings)."""
    if not h.ends:
        return 0
    limit = h.heard_s - right_context_s
    offset, n = len(h.head), 0
    for piece in current:
        offset += len(piece)
        ends = [end for o, _, end, word in h.ends if word and o <= offset]
        if not ends or ends[-1] > limit:
            break
        n += 1
    return n


def _overlap_at(ends: list[tuple[int, float, float, bool]], offset: int, cut_s: float,
                overlap_s: float) -> tuple[int, float]:
    """Where to cut the audio before a segment's end so that its words starting within
    `overlap_s` of the end stay heard (never its first word): (character offset those words
    start at in the segment, cut in seconds); (offset, cut_s) when none stay."""
    words = [(o, start, end) for o, start, end, word in ends if word and o <= offset]
    keep_from, keep_s = offset, cut_s
    for k in range(len(words) - 1, 0, -1):
        before_end, start = words[k - 1][2], words[k][1]
        if start < cut_s - overlap_s:
            break
        keep_from, keep_s = words[k - 1][0], max(0.0, (before_end + start) / 2)
    return keep_from, keep_s


def _pauses(ends: list[tuple[int, float, float, bool]]) -> dict[int, float]:
    """The silence after each word (seconds), keyed by the character offset of its end."""
    words = [(o, start, end) for o, start, end, word in ends if word]
    return {o: max(0.0, nxt[1] - end) for (o, _, end), nxt in zip(words, words[1:], strict=False)}


def _cut_at(ends: list[tuple[int, float, float, bool]], offset: int, heard_s: float) -> float | None:
    """Where to cut the audio after the words up to character `offset`: halfway between the end of
    its last word (with letters: the alignment gives the pause to a punctuation mark) and the next
    word's start; with no next word, a little after (at most 0.2 s, at most halfway to what the
    decode had heard). None when the timing is not known."""
    last = None
    next_start = None
    for o, start, end, word in ends:
        if o <= offset:
            if word:
                last = end
        elif next_start is None and word:
            next_start = start
    if last is None:
        return None
    if next_start is None:
        cut = last + max(0.0, min(0.2, (heard_s - last) / 2))
    else:
        cut = (last + max(next_start, last)) / 2
    return min(cut, heard_s) if cut > 0 else None
