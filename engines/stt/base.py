"""The speech-to-text interface: a provider decodes whole clips; a stream turns PCM frames into
interim and final events, with timestamps and the language."""
from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from engines.errors import EngineError, UnsupportedLanguageError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # every stream takes 16 kHz mono PCM16; callers resample first


@dataclass(frozen=True)
class STTCapabilities:
    """What a provider can do; shown in /health and used to pick one."""

    streaming: bool
    interim_results: bool
    offline: bool
    languages: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class SpeechEvent:
    """An interim or final transcript of one utterance within a stream.

    `utterance_key` is stable across an utterance's interims and its finals (segments). Offsets are in
    milliseconds of stream audio; `speech_end_at` is the wall-clock time (epoch ms) at which the
    end of speech was detected, so the latency budget can be measured from it.
    """

    kind: Literal["interim", "final", "notice"]
    text: str
    language: str
    utterance_key: str
    start_ms: float
    end_ms: float
    decode_ms: float
    speech_end_at: float | None = None
    engine: str = ""  # the provider that made it (a notice: the one now in use)
    previous: str = ""  # a notice: the provider left
    # Segments: a long utterance is committed in parts while the speaker talks. A final with part
    # n is the utterance's n-th segment (0, 1, 2, ... in order, each once; their texts joined
    # read as the whole utterance). An interim of part n is the words after the committed
    # segments 0..n-1 only (the uncommitted tail), never the segments again.
    part: int = 0


def notice(code: str, language: str, engine: str, previous: str) -> SpeechEvent:
    """A notice for the speaker, not a transcript: `code` is "stt_fallback" (recognition moved to
    a fallback provider), "stt_restored" (back on the preferred one) or "budget_reached"."""
    return SpeechEvent("notice", code, language, "", 0.0, 0.0, 0.0, engine=engine, previous=previous)


# (provider, unit, amount): what a provider billed for, e.g. ("grok", "audio_seconds", 2.4).
UsageMeter = Callable[[str, str, float], None]


@dataclass(frozen=True)
class StreamOptions:
    """Per-stream extras a provider may use: key terms to favour (a room's glossary), where to
    report billable usage, and how to ask for a poll. Local engines ignore them."""

    keyterms: tuple[str, ...] = ()
    on_usage: UsageMeter | None = None
    # Called from any thread when a remote provider's results are ready with no new audio, so the
    # caller polls now rather than at its next chunk (tens of ms sooner on every final).
    wake: Callable[[], None] | None = None


class STT(ABC):
    """Base class: `transcribe()` owns validation, timing and error logging; providers implement
    `_transcribe_impl()`, and `stream()` when they stream."""

    name: str = "base"

    @property
    @abstractmethod
    def capabilities(self) -> STTCapabilities: ...

    @abstractmethod
    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        """Decode 16 kHz mono PCM16 audio in `language`; return the text."""

    @abstractmethod
    def stream(self, language: str, key_prefix: str,
               options: StreamOptions | None = None) -> SpeechStream:
        """A new stream for one speaker."""

    def start(self) -> None:
        """Load models and warm up; the default does nothing."""

    def close(self) -> None:
        """Release resources; the default does nothing."""

    def supports(self, language: str) -> bool:
        return language in self.capabilities.languages

    def ready(self) -> bool:
        """Whether it may be used now (a premium provider whose daily budget is spent may not:
        failover skips it without a cool-down and comes back when this says so)."""
        return True

    def status(self) -> dict[str, Any]:
        caps = self.capabilities
        return {"name": self.name, "streaming": caps.streaming, "offline": caps.offline,
                "languages": sorted(caps.languages)}

    def transcribe(self, pcm16: bytes, language: str) -> tuple[str, float]:
        """Decode a whole clip; returns (text, decode milliseconds)."""
        return self._timed(self._transcribe_impl, pcm16, language)

    def _timed(self, decode: Callable[[bytes, str], str], pcm16: bytes,
               language: str) -> tuple[str, float]:
        """Run one decode of a clip: the language checked, failures logged (never the audio or
        text), the time taken returned with the text."""
        if not self.supports(language):
            raise UnsupportedLanguageError(f"{self.name} cannot recognise {language}", engine=self.name)
        started = time.perf_counter()
        try:
            text = decode(pcm16, language)
        except EngineError:
            logger.warning("transcription failed", exc_info=True,
                           extra={"engine": self.name, "language": language,
                                  "audio_ms": len(pcm16) / 32})
            raise
        return text, (time.perf_counter() - started) * 1000


class SpeechStream(ABC):
    """Push PCM16 frames in, get events out. Synchronous on purpose: the speech process runs one
    stream per speaker on its own thread and forwards the events."""

    @abstractmethod
    def push(self, pcm16: bytes) -> list[SpeechEvent]:
        """Feed 16 kHz mono PCM16 audio of any length; returns events it completed."""

    @abstractmethod
    def flush(self) -> list[SpeechEvent]:
        """End of input: return the final of any speech still pending."""

    def poll(self) -> list[SpeechEvent]:
        """Events that arrived with no new audio (a remote provider answers on its own time);
        called when the speaker's audio pauses. The default has none."""
        return []

    @property
    def idle(self) -> bool:
        """True between utterances (nothing heard and not yet final): a stream may be swapped
        for another then without losing audio. The default says yes."""
        return True

    def set_keyterms(self, terms: tuple[str, ...]) -> None:
        """New key terms from the next utterance on; the default ignores them."""

    def close(self) -> None:
        """Drop the stream without waiting for results (its provider failed or was replaced)."""
