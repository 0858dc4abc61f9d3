"""Pick a speech-to-text provider by short name; an unknown name is a configuration error."""
from __future__ import annotations

from collections.abc import Callable

from engines.registry import Registry
from engines.stt.base import STT


def _local() -> STT:
    from engines.stt.whisper import WhisperSTT
    return WhisperSTT.from_env()


BUILTIN: dict[str, Callable[[], STT]] = {"local": _local}


class STTRegistry(Registry[STT]):
    """Speech engines by name; `get(name)` puts the default behind the chosen one."""

    kind = "speech engine"

    def __init__(self, factories: dict[str, Callable[[], STT]] | None = None,
                 default: str = "local") -> None:
        super().__init__(factories or BUILTIN, default)

    def _fallback(self, providers: list[STT]) -> STT:
        from engines.stt.fallback import FallbackSTT
        return FallbackSTT(providers)
