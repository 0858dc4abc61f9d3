"""Grok speech synthesis: xAI `POST /tts`, and the voices offered from `GET /tts/voices`.

Wire (docs.x.ai text-to-speech REST reference): the JSON body has `text` (at most 15,000
characters), `language` (required; "en", "fr", "de", "it", "es-ES", "es-MX", "pt-BR", "pt-PT", …),
`voice_id` (default "eve") and `output_format` `{codec, sample_rate}`; the answer's body is the
audio itself. We ask for `pcm` (16-bit little-endian mono) at 24 kHz and wrap it in a WAV header
ourselves, so what we hand on never depends on how the provider frames a WAV. The voice list is
`{"voices": [{"voice_id", "name", ...}]}`, kept for ten minutes.
"""
from __future__ import annotations

import io
import logging
import time
import wave
from typing import Any

from engines.errors import EngineError
from engines.providers.xai.config import LABEL, NAME, XAIConfig, XAIHttp
from engines.tts.base import TTS, TTSCapabilities

logger = logging.getLogger(__name__)

MAX_CHARS = 15000
SAMPLE_RATE = 24000
VOICES_TTL_S = 600.0
VOICES_RETRY_S = 60.0  # a list that could not be had is not asked for again sooner
# Our codes → the provider's (docs.x.ai lists these; a regional variant is required for es and pt).
LANGUAGES = {"en": "en", "fr": "fr", "de": "de", "it": "it", "es": "es-ES", "pt": "pt-BR"}


class GrokTTS(TTS):
    def __init__(self, config: XAIConfig) -> None:
        self.config = config
        self.name = NAME
        self.http = XAIHttp(config)
        self._voices: tuple[float, list[dict[str, str]]] | None = None
        self._voices_failed_at = -VOICES_RETRY_S

    @property
    def capabilities(self) -> TTSCapabilities:
        return TTSCapabilities(offline=False, languages=frozenset(LANGUAGES),
                               voices=tuple(v["id"] for v in (self._voices or (0, []))[1]))

    def status(self) -> dict[str, Any]:
        return dict(super().status(), premium=True)

    def close(self) -> None:
        self.http.close()

    def voices(self, language: str = "") -> list[dict[str, str]]:
        """[{id, name}] from the provider, kept for VOICES_TTL_S (the same for every language)."""
        cached = self._voices
        if cached is not None and time.monotonic() - cached[0] < VOICES_TTL_S:
            return cached[1]
        if time.monotonic() - self._voices_failed_at < VOICES_RETRY_S:
            raise EngineError(f"{LABEL} voice list unavailable", engine=NAME, retryable=True)
        try:
            return self._fetch_voices()
        except EngineError:
            self._voices_failed_at = time.monotonic()
            raise

    def _fetch_voices(self) -> list[dict[str, str]]:
        r = self.http.request("voice list", "GET", "/tts/voices")
        try:
            items = r.json()["voices"]
            voices = [{"id": str(v["voice_id"])[:64], "name": str(v.get("name") or v["voice_id"])[:64]}
                      for v in items if isinstance(v, dict) and v.get("voice_id")]
        except (ValueError, KeyError, TypeError):
            raise EngineError(f"{LABEL} sent a voice list that is not one", engine=NAME,
                              retryable=True) from None
        self._voices = (time.monotonic(), voices)
        return voices

    def _synthesize_impl(self, text: str, language: str, voice: str | None) -> tuple[bytes, str]:
        self.config.check_budget("characters")
        if len(text) > MAX_CHARS:
            raise EngineError(f"{LABEL} speaks at most {MAX_CHARS} characters at once", engine=NAME)
        used = voice or self.config.voice
        try:  # a voice the provider does not offer (another engine's) would be refused: default
            if used != self.config.voice and used not in {v["id"] for v in self.voices()}:
                used = self.config.voice
        except EngineError:
            pass  # the list is unavailable: ask with the voice as given
        body = {"text": text, "language": LANGUAGES[language], "voice_id": used,
                "output_format": {"codec": "pcm", "sample_rate": SAMPLE_RATE}}
        r = self.http.request("speech synthesis", "POST", "/tts", json=body)
        pcm = r.content
        if len(pcm) < 2 or len(pcm) % 2:
            raise EngineError(f"{LABEL} sent audio that is not 16-bit PCM", engine=NAME,
                              retryable=True)
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm)
        return out.getvalue(), used
