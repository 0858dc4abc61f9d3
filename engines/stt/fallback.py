"""A speech-to-text provider that tries others in order; itself an STT."""
from __future__ import annotations

from engines.errors import AllEnginesFailedError
from engines.registry import Cooldowns, try_in_order
from engines.stt.base import STT, SpeechStream, STTCapabilities


class FallbackSTT(STT):
    """Clips: each provider in turn until one succeeds; one failing with a retryable error is
    skipped for `cooldown_s`. Streams: opened on the first available provider that knows the
    language (a stream cannot move its buffered audio to another provider mid-utterance)."""

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

    def _candidates(self, language: str) -> list[STT]:
        able = [p for p in self.providers if p.supports(language)]
        return [p for p in able if self.cooldowns.up(p.name)] or able

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        able = [p for p in self.providers if p.supports(language)]
        return try_in_order(able, self.cooldowns, lambda p: p.transcribe(pcm16, language))[0]

    def stream(self, language: str, key_prefix: str) -> SpeechStream:
        candidates = self._candidates(language)
        if not candidates:
            raise AllEnginesFailedError([])
        return candidates[0].stream(language, key_prefix)
