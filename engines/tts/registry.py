"""Pick a TTS provider by short name; "local" is piper for English, espeak-ng for the rest."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engines.registry import Registry
from engines.tts.base import TTS


def _local() -> TTS:
    from engines.tts.espeak import EspeakTTS
    from engines.tts.fallback import FallbackTTS
    from engines.tts.piper import PiperTTS
    return FallbackTTS([PiperTTS(), EspeakTTS()], name="local")


def _espeak() -> TTS:
    from engines.tts.espeak import EspeakTTS
    return EspeakTTS()


BUILTIN: dict[str, Callable[[], TTS]] = {"local": _local, "espeak": _espeak}


class TTSRegistry(Registry[TTS]):
    """TTS engines by name; `get(name)` puts the rest of the failover order behind the chosen one."""

    kind = "speech synthesis engine"

    def __init__(self, factories: dict[str, Callable[[], TTS]] | None = None,
                 default: str = "local", **kw: Any) -> None:
        super().__init__(factories or BUILTIN, default, **kw)

    def _fallback(self, providers: list[TTS]) -> TTS:
        from engines.tts.fallback import FallbackTTS
        return FallbackTTS(providers, cooldown_s=self.cooldown_s)
