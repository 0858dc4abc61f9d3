"""The local engines' settings: the recogniser (Whisper) and the translator's APY child (Apertium),
their defaults the engines' own. Piper and espeak-ng take none."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from engines.providers.base import Section, env
from engines.providers.local.apertium import ApertiumConfig
from engines.providers.local.whisper import WhisperConfig
from engines.stt.commit import SegmentRules
from engines.stt.vad import VadConfig


class Whisper(Section):
    """The local recogniser (engines/providers/local/whisper.py)."""

    model: str = env(WhisperConfig.model, "WHISPER_MODEL")
    cache_dir: Path | None = env(None, "WHISPER_CACHE_DIR")  # default: var_dir/models
    threads: int = env(WhisperConfig.threads, "STT_THREADS")
    interim_interval_ms: float = env(WhisperConfig.interim_interval_ms, "STT_INTERIM_INTERVAL_MS")
    window: str = env(WhisperConfig.window, "STT_WINDOW")
    min_silence_ms: float = env(VadConfig.min_silence_ms, "STT_MIN_SILENCE_MS")
    max_silence_ms: float = env(VadConfig.max_silence_ms, "STT_MAX_SILENCE_MS")
    # Segments: captions while a person speaks; off, one caption per utterance.
    segments: bool = env(True, "STT_SEGMENTS")
    segment_clause_words: int = env(SegmentRules.clause_words, "STT_SEGMENT_CLAUSE_WORDS")
    segment_max_words: int = env(SegmentRules.max_words, "STT_SEGMENT_MAX_WORDS")
    segment_right_context_ms: float = env(SegmentRules.right_context_s * 1000,
                                          "STT_SEGMENT_RIGHT_CONTEXT_MS")
    segment_overlap_ms: float = env(SegmentRules.overlap_s * 1000, "STT_SEGMENT_OVERLAP_MS")

    @field_validator("segments", mode="before")
    @classmethod
    def _on_unless_0(cls, value: Any) -> Any:
        return value.strip() != "0" if isinstance(value, str) else value

    def config(self, var_dir: Path, model: str | None = None) -> WhisperConfig:
        """The engine's configuration (`model` instead of WHISPER_MODEL's, if given)."""
        segments = SegmentRules(clause_words=self.segment_clause_words,
                                max_words=self.segment_max_words,
                                right_context_s=self.segment_right_context_ms / 1000,
                                overlap_s=self.segment_overlap_ms / 1000)
        return WhisperConfig(model=model or self.model, cache_dir=self.cache_dir or var_dir / "models",
                             threads=self.threads, interim_interval_ms=self.interim_interval_ms,
                             window=self.window,
                             vad=VadConfig(min_silence_ms=self.min_silence_ms,
                                           max_silence_ms=self.max_silence_ms),
                             segments=segments if self.segments else None)


class Apertium(Section):
    """The local translator's APY child (engines/providers/local/apertium.py)."""

    pairs_path: str = env(ApertiumConfig.pairs_path, "APERTIUM_PAIRS_PATH")
    python: str = env(ApertiumConfig.python, "APERTIUM_PYTHON")
    preload: str = env(ApertiumConfig.preload, "APERTIUM_PRELOAD")
    idle_s: float = env(ApertiumConfig.idle_s, "APERTIUM_IDLE_S")

    def config(self) -> ApertiumConfig:
        return ApertiumConfig(pairs_path=self.pairs_path, python=self.python, preload=self.preload,
                              idle_s=self.idle_s)


class Local(Section):
    """The embedded engines (settings.local): always available, never billed."""

    whisper: Whisper = Field(default_factory=Whisper)
    apertium: Apertium = Field(default_factory=Apertium)
