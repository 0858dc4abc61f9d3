"""Pick a TTS provider by short name; "local" is piper for English, espeak-ng for the rest."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engines.providers import local
from engines.registry import Registry
from engines.tts.base import TTS

# The engines' own defaults; the service builds its registries from the providers' records
# (core.providers).
BUILTIN: dict[str, Callable[[], TTS]] = {"local": local.piper_or_espeak, "espeak": local.espeak_alone}


class TTSRegistry(Registry[TTS]):
    """TTS engines by name; `get(name)` puts the rest of the failover order behind the chosen one."""

    kind = "speech synthesis engine"

    def __init__(self, factories: dict[str, Callable[[], TTS]] | None = None,
                 default: str = "local", **kw: Any) -> None:
        super().__init__(factories or BUILTIN, default, **kw)

    def _fallback(self, providers: list[TTS]) -> TTS:
        from engines.tts.fallback import FallbackTTS
        return FallbackTTS(providers, cooldown_s=self.cooldown_s)
