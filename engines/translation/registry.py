"""Pick a translator by short name; an unknown name is a configuration error."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engines.registry import Registry
from engines.translation.base import Translator


def _local() -> Translator:
    from engines.providers.local.apertium import ApertiumTranslator
    return ApertiumTranslator()


# The engines' own defaults; the service builds its registries with factories configured from its
# settings (core.providers).
BUILTIN: dict[str, Callable[[], Translator]] = {"local": _local}


class TranslatorRegistry(Registry[Translator]):
    """Translators by name. `get(name)` returns the provider wrapped in a fallback to the
    embedded default, so a premium provider that fails still yields a local translation."""

    kind = "translation engine"

    def __init__(self, factories: dict[str, Callable[[], Translator]] | None = None,
                 default: str = "local", **kw: Any) -> None:
        super().__init__(factories or BUILTIN, default, **kw)

    def _fallback(self, providers: list[Translator]) -> Translator:
        from engines.translation.fallback import FallbackTranslator
        return FallbackTranslator(providers, cooldown_s=self.cooldown_s)
