"""Pick a speech-to-text provider by short name; an unknown name is a configuration error."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from engines.errors import ConfigurationError
from engines.stt.base import STT

Factory = Callable[[], STT]


def _local() -> STT:
    from engines.stt.whisper import WhisperSTT
    return WhisperSTT.from_env()


BUILTIN: dict[str, Factory] = {"local": _local}


class STTRegistry:
    """Creates each named provider once per process; `get(name)` puts the default behind it."""

    def __init__(self, factories: dict[str, Factory] | None = None, default: str = "local") -> None:
        self._factories = dict(factories or BUILTIN)
        self.default = self.check(default)
        self._instances: dict[str, STT] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._factories)

    def check(self, name: str) -> str:
        if name not in self._factories:
            raise ConfigurationError(f"unknown speech engine {name!r}; known: {', '.join(self.names())}")
        return name

    def provider(self, name: str) -> STT:
        self.check(name)
        with self._lock:
            inst = self._instances.get(name)
            if inst is None:
                inst = self._factories[name]()
                inst.start()
                self._instances[name] = inst
            return inst

    def get(self, name: str | None = None) -> STT:
        from engines.stt.fallback import FallbackSTT
        name = name or self.default
        primary = self.provider(name)
        return primary if name == self.default else FallbackSTT([primary, self.provider(self.default)])

    def status(self) -> dict[str, Any]:
        return {n: (self._instances[n].status() if n in self._instances else {"name": n, "started": False})
                for n in self.names()}

    def close(self) -> None:
        with self._lock:
            for inst in self._instances.values():
                inst.close()
            self._instances.clear()
