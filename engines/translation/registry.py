"""Pick a translator by short name; an unknown name is a configuration error."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from engines.errors import ConfigurationError
from engines.translation.base import Translator

logger = logging.getLogger(__name__)

Factory = Callable[[], Translator]


def _local() -> Translator:
    from engines.translation.apertium import ApertiumTranslator
    return ApertiumTranslator.from_env()


BUILTIN: dict[str, Factory] = {"local": _local}


class TranslatorRegistry:
    """Creates each named provider once per process and hands it out by name.

    `get(name)` returns the provider wrapped in a fallback to the embedded default, so a premium
    provider that fails still yields a translation from the local engine.
    """

    def __init__(self, factories: dict[str, Factory] | None = None, default: str = "local") -> None:
        self._factories = dict(factories or BUILTIN)
        if default not in self._factories:
            raise ConfigurationError(f"unknown translation engine {default!r}; "
                                     f"known: {', '.join(sorted(self._factories))}")
        self.default = default
        self._instances: dict[str, Translator] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._factories)

    def check(self, name: str) -> str:
        """Return `name` if registered, else raise ConfigurationError."""
        if name not in self._factories:
            raise ConfigurationError(f"unknown translation engine {name!r}; "
                                     f"known: {', '.join(self.names())}")
        return name

    def provider(self, name: str) -> Translator:
        """The single instance of provider `name`, created and started on first use."""
        self.check(name)
        with self._lock:
            inst = self._instances.get(name)
            if inst is None:
                inst = self._factories[name]()
                inst.start()
                self._instances[name] = inst
            return inst

    def get(self, name: str | None = None) -> Translator:
        """The provider for a user's preference, with the default behind it as fallback."""
        from engines.translation.fallback import FallbackTranslator
        name = name or self.default
        primary = self.provider(name)
        if name == self.default:
            return primary
        return FallbackTranslator([primary, self.provider(self.default)])

    def status(self) -> dict[str, Any]:
        """Every registered engine: started ones report their state."""
        out: dict[str, Any] = {}
        for name in self.names():
            inst = self._instances.get(name)
            out[name] = inst.status() if inst else {"name": name, "started": False}
        return out

    def close(self) -> None:
        with self._lock:
            for inst in self._instances.values():
                inst.close()
            self._instances.clear()
