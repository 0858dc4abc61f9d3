"""espeak-ng (Debian): robotic but clear, 100+ languages, ~10 ms a sentence."""
from __future__ import annotations

import shutil
import subprocess
import tempfile

from engines.errors import ConfigurationError, EngineError, EngineTimeoutError
from engines.languages import LANGUAGE_TABLE, VOICED_LANGUAGES
from engines.tts.base import TTS, TTSCapabilities


class EspeakTTS(TTS):
    name = "espeak"

    def __init__(self, binary: str = "espeak-ng", timeout_s: float = 10.0) -> None:
        self.binary = binary
        self.timeout_s = timeout_s

    @property
    def capabilities(self) -> TTSCapabilities:
        return TTSCapabilities(offline=True, languages=VOICED_LANGUAGES,
                               voices=("<language>", "<language>+f2", "<language>+m3"))

    def start(self) -> None:
        if shutil.which(self.binary) is None:
            raise ConfigurationError("espeak-ng is not installed: apt-get install espeak-ng "
                                     "(or make setup)", engine=self.name)

    def _synthesize_impl(self, text: str, language: str, voice: str | None) -> tuple[bytes, str]:
        base = LANGUAGE_TABLE[language].voice or language  # supports() checked it has one
        variant = voice.split("+", 1)[1] if voice and "+" in voice else None
        used = f"{base}+{variant}" if variant and variant.isalnum() else base
        # Text on stdin, never on the command line (no length limit, nothing to escape). Written to
        # a file, not --stdout: on a pipe espeak-ng cannot go back to fill in the WAV sizes.
        with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
            try:
                out = subprocess.run([self.binary, "-v", used, "-w", wav.name], input=text.encode(),
                                     capture_output=True, timeout=self.timeout_s, check=False)
            except subprocess.TimeoutExpired as exc:
                raise EngineTimeoutError("espeak-ng timed out", engine=self.name) from exc
            if out.returncode != 0:
                raise EngineError(f"espeak-ng failed with exit code {out.returncode}", engine=self.name)
            return wav.read(), used
