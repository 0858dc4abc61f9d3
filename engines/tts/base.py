"""The text-to-speech interface: text in, a WAV file out."""
from __future__ import annotations

import io
import logging
import time
import wave
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from engines.errors import EngineError, UnsupportedLanguageError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TTSCapabilities:
    offline: bool
    languages: frozenset[str] = field(default_factory=frozenset)
    voices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Synthesis:
    """One synthesized text: a complete WAV file and what made it."""

    wav: bytes
    sample_rate: int
    duration_ms: float
    engine: str
    voice: str
    language: str
    elapsed_ms: float


def wav_info(data: bytes) -> tuple[int, float]:
    """(sample rate, duration in ms) of a WAV file; EngineError if it is not one."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            frames, rate = w.getnframes(), w.getframerate()
            present = len(w.readframes(frames)) // (w.getsampwidth() * w.getnchannels())
    except (wave.Error, EOFError, ZeroDivisionError) as exc:
        raise EngineError("the engine produced no valid WAV audio") from exc
    if present != frames:
        raise EngineError(f"the WAV header says {frames} frames but {present} are there")
    return rate, frames * 1000.0 / rate


class TTS(ABC):
    """Base class: `synthesize()` owns validation, timing and checks of the audio; providers
    implement `_synthesize_impl()`."""

    name: str = "base"

    @property
    @abstractmethod
    def capabilities(self) -> TTSCapabilities: ...

    @abstractmethod
    def _synthesize_impl(self, text: str, language: str, voice: str | None) -> tuple[bytes, str]:
        """Speak `text`; return (WAV bytes, the voice used)."""

    def start(self) -> None:
        """Load models; the default does nothing."""

    def close(self) -> None:
        """Release resources; the default does nothing."""

    def supports(self, language: str) -> bool:
        return language in self.capabilities.languages

    def status(self) -> dict[str, Any]:
        caps = self.capabilities
        return {"name": self.name, "offline": caps.offline, "languages": sorted(caps.languages),
                "voices": list(caps.voices)}

    def synthesize(self, text: str, language: str, voice: str | None = None) -> Synthesis:
        if not self.supports(language):
            raise UnsupportedLanguageError(f"{self.name} cannot speak {language}", engine=self.name)
        started = time.perf_counter()
        wav, used = self._synthesize_impl(text, language, voice)
        rate, duration = wav_info(wav)
        if duration <= 0:
            raise EngineError(f"{self.name} produced empty audio", engine=self.name)
        return Synthesis(wav, rate, duration, self.name, used, language,
                         (time.perf_counter() - started) * 1000)
