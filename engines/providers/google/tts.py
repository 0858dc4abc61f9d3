"""Google speech synthesis: Cloud Text-to-Speech v1 `SynthesizeSpeech`, and the voices offered
from `ListVoices` (gRPC).

Wire (cloud.google.com/text-to-speech/docs/reference/rpc/google.cloud.texttospeech.v1): `input.text`
(at most 5,000 bytes), `voice` `{language_code, name}` and `audio_config` `{audio_encoding,
sample_rate_hertz}`. We ask for LINEAR16 at 24 kHz; Google returns LINEAR16 as a complete WAV file
(its header included), so the audio is taken from that file and written once into ours — never a
second header in front of the first, which players read as a click and a wrong length.
`ListVoices(language_code)` answers `voices[]` with `name`, `language_codes`, `ssml_gender`; kept
for ten minutes per language.
"""
from __future__ import annotations

import io
import time
import wave
from typing import Any

from engines.errors import EngineError
from engines.providers.google.config import LABEL, NAME, Clients, GoogleConfig, call
from engines.tts.base import TTS, TTSCapabilities

MAX_BYTES = 5000
SAMPLE_RATE = 24000
VOICES_TTL_S = 600.0
VOICES_RETRY_S = 60.0
# Our codes → a language Google speaks them in (its voice list has these).
LANGUAGES = {"en": "en-US", "es": "es-ES", "fr": "fr-FR", "de": "de-DE", "it": "it-IT",
             "pt": "pt-BR", "nl": "nl-NL", "pl": "pl-PL", "ru": "ru-RU", "ja": "ja-JP",
             "ko": "ko-KR", "ar": "ar-XA", "hi": "hi-IN", "tr": "tr-TR", "sv": "sv-SE",
             "ca": "ca-ES", "uk": "uk-UA", "zh": "cmn-CN", "ro": "ro-RO", "is": "is-IS",
             "gl": "gl-ES", "eu": "eu-ES"}


def _classes() -> tuple[Any, Any]:
    from google.cloud.texttospeech_v1 import TextToSpeechClient
    from google.cloud.texttospeech_v1.services.text_to_speech.transports import TextToSpeechGrpcTransport
    return TextToSpeechClient, TextToSpeechGrpcTransport


class GoogleTTS(TTS):
    def __init__(self, config: GoogleConfig) -> None:
        self.config = config
        self.name = NAME
        self.clients = Clients(config, _classes)
        self._voices: dict[str, tuple[float, list[dict[str, str]]]] = {}
        self._voices_failed_at: dict[str, float] = {}

    @property
    def capabilities(self) -> TTSCapabilities:
        return TTSCapabilities(offline=False, languages=frozenset(LANGUAGES))

    def status(self) -> dict[str, Any]:
        return dict(super().status(), premium=True)

    def close(self) -> None:
        self.clients.close()

    def voices(self, language: str = "") -> list[dict[str, str]]:
        """[{id, name}] of Google's voices for `language` (all, without one), kept for VOICES_TTL_S."""
        code = LANGUAGES.get(language, "")
        cached = self._voices.get(code)
        if cached is not None and time.monotonic() - cached[0] < VOICES_TTL_S:
            return cached[1]
        if time.monotonic() - self._voices_failed_at.get(code, -VOICES_RETRY_S) < VOICES_RETRY_S:
            raise EngineError(f"{LABEL} voice list unavailable", engine=NAME, retryable=True)
        client = self.clients.get()
        try:
            reply = call("voice list", lambda: client.list_voices(
                language_code=code, timeout=self.config.timeout_s, retry=None))
        except EngineError:
            self._voices_failed_at[code] = time.monotonic()
            raise
        voices = []
        for v in reply.voices:
            gender = getattr(v.ssml_gender, "name", "").lower()
            label = f"{v.name} ({gender})" if gender in ("male", "female", "neutral") else v.name
            voices.append({"id": str(v.name)[:64], "name": str(label)[:80]})
        self._voices[code] = (time.monotonic(), voices)
        return voices

    def _synthesize_impl(self, text: str, language: str, voice: str | None) -> tuple[bytes, str]:
        self.config.check_budget("characters")
        if len(text.encode()) > MAX_BYTES:
            raise EngineError(f"{LABEL} speaks at most {MAX_BYTES} bytes of text at once", engine=NAME)
        code = LANGUAGES[language]
        name = voice or self.config.voice
        try:  # a voice Google does not offer for the language (another engine's) would be refused
            if name and name not in {v["id"] for v in self.voices(language)}:
                name = ""
        except EngineError:
            pass  # the list is unavailable: ask with the voice as given
        if name and not name.lower().startswith(code.lower()):
            name = ""
        client = self.clients.get()
        request = {"input": {"text": text}, "voice": {"language_code": code, "name": name},
                   "audio_config": {"audio_encoding": "LINEAR16", "sample_rate_hertz": SAMPLE_RATE}}
        reply = call("speech synthesis", lambda: client.synthesize_speech(
            request=request, timeout=self.config.timeout_s, retry=None))
        return as_wav(bytes(reply.audio_content), SAMPLE_RATE), name or code


def as_wav(audio: bytes, rate: int) -> bytes:
    """One WAV file of LINEAR16 audio: Google's own file taken apart and written again (so one
    header, with the length of what is really there), or raw samples wrapped."""
    pcm, channels, width = audio, 1, 2
    if audio[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(audio)) as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                pcm = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as exc:
            raise EngineError(f"{LABEL} sent a WAV file that is not one", engine=NAME,
                              retryable=True) from exc
    if width != 2 or len(pcm) < 2 or len(pcm) % (2 * channels):
        raise EngineError(f"{LABEL} sent audio that is not 16-bit PCM", engine=NAME, retryable=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()
