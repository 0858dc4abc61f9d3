"""A translator that tries providers in order; itself a Translator."""
from __future__ import annotations

import logging
from typing import Any

from engines.registry import Cooldowns, try_in_order
from engines.translation.base import Capabilities, Translator

logger = logging.getLogger(__name__)


class FallbackTranslator(Translator):
    """Tries each provider in turn. A provider that fails with a retryable error is marked
    unavailable for `cooldown_s` and skipped meanwhile (checked again once the cooldown ends),
    so one broken premium provider does not add its timeout to every utterance."""

    max_attempts = 1

    def __init__(self, providers: list[Translator], cooldown_s: float = 30.0) -> None:
        if not providers:
            raise ValueError("FallbackTranslator needs at least one provider")
        self.providers = providers
        self.cooldowns = Cooldowns(cooldown_s)
        self.name = "fallback(" + ",".join(p.name for p in providers) + ")"

    @property
    def capabilities(self) -> Capabilities:
        langs: frozenset[str] = frozenset().union(*(p.capabilities.languages for p in self.providers))
        return Capabilities(offline=any(p.capabilities.offline for p in self.providers), languages=langs)

    def supports(self, source: str, target: str) -> bool:
        return any(p.supports(source, target) for p in self.providers)

    def _translate_impl(self, text: str, source: str, target: str) -> tuple[str, tuple[str, ...]]:
        able = [p for p in self.providers if p.supports(source, target)]
        result = try_in_order(able, self.cooldowns, lambda p: p.translate(text, source, target))
        return result.text, result.route

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "providers": [
            dict(p.status(), cooling_down=not self.cooldowns.up(p.name)) for p in self.providers]}
