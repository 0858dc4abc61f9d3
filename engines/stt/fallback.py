"""A speech-to-text provider that tries others in order; itself an STT. Its streams fail over
mid-utterance without losing or repeating what was said."""
from __future__ import annotations

import dataclasses
import logging

from engines.errors import AllEnginesFailedError, BudgetExhaustedError, EngineError
from engines.registry import Cooldowns, try_in_order
from engines.stt.base import (
    STT,
    SpeechEvent,
    SpeechStream,
    StreamOptions,
    STTCapabilities,
    notice,
)

logger = logging.getLogger(__name__)

# Audio kept for a replay: everything since the last final, up to this much (longer than the
# longest utterance, 20 s, plus a final still in flight).
RETAIN_BYTES = 45 * 32000
RESTORE_TAIL_BYTES = int(0.3 * 32000)  # ~ the VAD's pre-roll


class FallbackSTT(STT):
    """Clips: each provider in turn until one succeeds; one failing with a retryable error is
    skipped for `cooldown_s`. Streams: a FailoverStream over the providers that know the language."""

    def __init__(self, providers: list[STT], cooldown_s: float = 30.0) -> None:
        if not providers:
            raise ValueError("FallbackSTT needs at least one provider")
        self.providers = providers
        self.cooldowns = Cooldowns(cooldown_s)
        self.name = "fallback(" + ",".join(p.name for p in providers) + ")"

    @property
    def capabilities(self) -> STTCapabilities:
        caps = [p.capabilities for p in self.providers]
        return STTCapabilities(streaming=any(c.streaming for c in caps),
                               interim_results=any(c.interim_results for c in caps),
                               offline=any(c.offline for c in caps),
                               languages=frozenset().union(*(c.languages for c in caps)))

    def status(self) -> dict[str, object]:
        return {"name": self.name, "providers": [
            dict(p.status(), cooling_down=not self.cooldowns.up(p.name)) for p in self.providers]}

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        able = [p for p in self.providers if p.supports(language)]
        return try_in_order(able, self.cooldowns, lambda p: p.transcribe(pcm16, language))[0]

    def stream(self, language: str, key_prefix: str,
               options: StreamOptions | None = None) -> SpeechStream:
        able = [p for p in self.providers if p.supports(language)]
        if not able:
            raise AllEnginesFailedError([])
        return FailoverStream(able, self.cooldowns, language, key_prefix, options or StreamOptions())


class FailoverStream(SpeechStream):
    """Runs on the first provider that is up; when it fails (an error, a refusal, a dropped or
    stalled connection) it is cooled down and everything heard since the last final is replayed to
    the next one, whose results take the keys of the utterances in flight, so the caption the room
    was watching is completed once, by the next engine. Between utterances it moves back to a
    better provider whose cool-down has ended. Each move is a notice event for the speaker."""

    def __init__(self, providers: list[STT], cooldowns: Cooldowns, language: str, key_prefix: str,
                 options: StreamOptions) -> None:
        self.providers = providers
        self.cooldowns = cooldowns
        self.language = language
        self.key_prefix = key_prefix
        self.options = options
        self._generation = 0
        self._retained = bytearray()
        self._open_keys: list[str] = []  # utterances with interims shown but no final yet
        self._rename: dict[str, str] = {}
        # Segments: the next part of each utterance that has had finals, and for a replayed
        # utterance renamed to one in flight, how far its parts are moved (they continue it).
        self._next_part: dict[str, int] = {}
        self._part_offset: dict[str, int] = {}
        self._base_ms = 0.0  # the current stream's time (ms) of retained[0]
        self._index = -1
        self._stream: SpeechStream | None = None
        self._events: list[SpeechEvent] = []
        self._open(self._best(), reason="")

    @property
    def engine(self) -> str:
        return self.providers[self._index].name

    def _best(self) -> int:
        for i, p in enumerate(self.providers):
            if self.cooldowns.up(p.name) and p.ready():
                return i
        return len(self.providers) - 1

    def _open(self, index: int, reason: str) -> None:
        """Start provider `index` (raising AllEnginesFailedError past the last one); `reason` is
        the notice code to give the speaker, if any."""
        previous = self.engine if self._index >= 0 else self.providers[0].name
        if self._index < 0 and index > 0 and not self.providers[0].ready():
            reason = "budget_reached"  # the preferred provider's budget is spent: say so at once
        while index < len(self.providers):
            p = self.providers[index]
            prefix = self.key_prefix if self._generation == 0 else f"{self.key_prefix}~{self._generation}"
            self._generation += 1
            try:
                self._stream = p.stream(self.language, prefix, self.options)
                self._index = index
                if reason:
                    self._events.append(notice(reason, self.language, p.name, previous))
                return
            except EngineError as exc:
                self._failed(p, exc)
                index += 1
        raise AllEnginesFailedError([])

    def _failed(self, p: STT, exc: EngineError) -> None:
        logger.warning("speech recognition provider failed; failing over",
                       extra={"engine": p.name, "error": type(exc).__name__,
                              "retryable": exc.retryable})
        if exc.retryable:
            self.cooldowns.mark(p.name)

    @property
    def idle(self) -> bool:
        return self._stream is None or self._stream.idle

    def _run(self, step: str, audio: bytes = b"") -> list[SpeechEvent]:
        """push/poll/flush (or "replay": push what is retained) on the current stream; when it
        fails, the next provider is fed the audio retained since the last final (which already
        holds `audio`), and flushed too if this was the end."""
        replay = False
        while True:
            assert self._stream is not None
            try:
                if not replay and step != "replay":
                    events = (self._stream.push(audio) if step == "push"
                              else self._stream.flush() if step == "flush" else self._stream.poll())
                else:
                    events = self._stream.push(bytes(self._retained))
                    if step == "flush":
                        events += self._stream.flush()
                return self._pass(events)
            except EngineError as exc:
                failed = self.providers[self._index]
                self._failed(failed, exc)
                self._stream.close()
                code = "budget_reached" if isinstance(exc, BudgetExhaustedError) else "stt_fallback"
                self._open(self._index + 1, reason=code)
                self._base_ms, replay = 0.0, True  # the new stream's time 0 is retained[0]

    def _pass(self, events: list[SpeechEvent]) -> list[SpeechEvent]:
        """Events as the caller sees them: notices first, replayed utterances under the keys of
        those in flight, and the retained audio trimmed to what follows each final."""
        out, self._events = self._events, []
        for e in events:
            key = self._rename.get(e.utterance_key)
            if key is None and self._generation > 1 and self._open_keys and e.kind != "notice":
                key = self._open_keys.pop(0)  # the replay's first utterance completes the one in flight
                self._rename[e.utterance_key] = key
                self._part_offset[e.utterance_key] = self._next_part.get(key, 0)
            part = e.part + self._part_offset.get(e.utterance_key, 0)
            key = key or e.utterance_key
            if e.kind == "interim" and key not in self._open_keys and key not in self._rename.values():
                self._open_keys.append(key)
            if e.kind == "final":
                if key in self._open_keys:  # and any before it: those ended without a final
                    del self._open_keys[:self._open_keys.index(key) + 1]
                drop = max(0, int((e.end_ms - self._base_ms) * 16) * 2)
                del self._retained[:drop]
                self._base_ms = max(self._base_ms, e.end_ms)
                self._next_part[key] = part + 1
                if len(self._next_part) > 64:  # only utterances still in flight matter
                    del self._next_part[next(iter(self._next_part))]
            if key != e.utterance_key or part != e.part:
                e = dataclasses.replace(e, utterance_key=key, part=part)
            out.append(e)
        return out

    def push(self, pcm16: bytes) -> list[SpeechEvent]:
        events = self._maybe_return()
        self._retained += pcm16
        over = len(self._retained) - RETAIN_BYTES
        if over > 0:
            del self._retained[:over]
            self._base_ms += over / 32
        return events + self._run("push", pcm16)

    def poll(self) -> list[SpeechEvent]:
        return self._maybe_return() + self._run("poll")

    def flush(self) -> list[SpeechEvent]:
        return self._run("flush")

    def set_keyterms(self, terms: tuple[str, ...]) -> None:
        self.options = dataclasses.replace(self.options, keyterms=tuple(terms))
        if self._stream is not None:
            self._stream.set_keyterms(self.options.keyterms)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()

    def _maybe_return(self) -> list[SpeechEvent]:
        """Between utterances, move back to a better provider whose cool-down has ended."""
        best = self._best()
        if best >= self._index or self._stream is None or not self._stream.idle:
            return []
        events = self._pass(self._stream.flush())
        self._stream.close()
        # The last moments heard go along: speech may have begun before the VAD was sure.
        del self._retained[:-RESTORE_TAIL_BYTES]
        self._open_keys.clear()
        self._base_ms = 0.0
        self._open(best, reason="stt_restored")
        return events + self._run("replay")

