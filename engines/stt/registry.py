"""Pick a speech-to-text provider by short name; an unknown name is a configuration error."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engines.registry import Registry
from engines.stt.base import STT


def _local() -> STT:
    from engines.providers.local.whisper import WhisperSTT
    return WhisperSTT()


# The engines' own defaults; the service builds its registries with factories configured from its
# settings (core.providers).
BUILTIN: dict[str, Callable[[], STT]] = {"local": _local}


class STTRegistry(Registry[STT]):
    """Speech engines by name; `get(name)` puts the rest of the failover order behind the chosen one."""

    kind = "speech engine"

    def __init__(self, factories: dict[str, Callable[[], STT]] | None = None,
                 default: str = "local", **kw: Any) -> None:
        super().__init__(factories or BUILTIN, default, **kw)

    def _fallback(self, providers: list[STT]) -> STT:
        from engines.stt.fallback import FallbackSTT
        return FallbackSTT(providers, cooldown_s=self.cooldown_s)
