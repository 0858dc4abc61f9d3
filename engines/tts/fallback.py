"""A TTS that tries providers in order; itself a TTS. Also how "local" picks piper for English
and espeak-ng for everything else: a provider that cannot speak the language is skipped."""
from __future__ import annotations

from engines.errors import UnsupportedLanguageError
from engines.registry import Cooldowns, try_in_order
from engines.tts.base import TTS, Synthesis, TTSCapabilities


class FallbackTTS(TTS):
    """Named (`name`), it is one engine made of several ("local"): results are its own. Unnamed, it
    is a failover chain: each result is the provider's that made it, under that provider's name."""

    def __init__(self, providers: list[TTS], name: str = "", cooldown_s: float = 30.0) -> None:
        if not providers:
            raise ValueError("FallbackTTS needs at least one provider")
        self.providers = providers
        self.cooldowns = Cooldowns(cooldown_s)
        self.name = name or "fallback(" + ",".join(p.name for p in providers) + ")"
        self.chain = not name

    @property
    def capabilities(self) -> TTSCapabilities:
        caps = [p.capabilities for p in self.providers]
        return TTSCapabilities(offline=any(c.offline for c in caps),
                               languages=frozenset().union(*(c.languages for c in caps)),
                               voices=tuple(v for c in caps for v in c.voices))

    def start(self) -> None:
        for p in self.providers:
            p.start()

    def close(self) -> None:
        for p in self.providers:
            p.close()

    def _synthesize_impl(self, text: str, language: str, voice: str | None) -> tuple[bytes, str]:
        able = [p for p in self.providers if p.supports(language)]
        out = try_in_order(able, self.cooldowns, lambda p: p.synthesize(text, language, voice))
        return out.wav, f"{out.engine}:{out.voice}"

    def synthesize(self, text: str, language: str, voice: str | None = None) -> Synthesis:
        if not self.chain:
            return super().synthesize(text, language, voice)
        able = [p for p in self.providers if p.supports(language)]
        if not able:
            raise UnsupportedLanguageError(f"{self.name} cannot speak {language}", engine=self.name)
        # A voice belongs to one provider: the next one speaks with its own default.
        return try_in_order(able, self.cooldowns, lambda p: p.synthesize(
            text, language, voice if p is able[0] else None))
