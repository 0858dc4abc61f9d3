"""A translator that tries providers in order; itself a Translator."""
from __future__ import annotations

import logging
from typing import Any

from engines.errors import AllEnginesFailedError, EngineError, UnsupportedLanguageError
from engines.registry import Cooldowns, try_in_order
from engines.translation.base import Capabilities, Context, Translation, Translator

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
        raise AssertionError("translate() is overridden")

    def translate(self, text: str, source: str, target: str,
                  context: Context | None = None) -> Translation:
        """The first provider that succeeds; its own result (so `engine` names who translated)."""
        if source == target:
            return Translation(text, source, target, self.name, 0.0, (source,))
        able = [p for p in self.providers if p.supports(source, target)]
        if not able:
            raise UnsupportedLanguageError(f"no engine translates {source} → {target}",
                                           engine=self.name)
        return try_in_order(able, self.cooldowns, lambda p: p.translate(text, source, target, context))

    def translate_many(self, text: str, source: str, targets: list[str],
                       context: Context | None = None) -> dict[str, Translation]:
        """All targets, each from the first provider that manages it: a provider that batches
        takes all of its targets in one request; what it could not do goes on to the next."""
        done: dict[str, Translation] = {}
        errors: dict[str, list[tuple[str, EngineError]]] = {t: [] for t in targets}
        for p in sorted(self.providers, key=lambda p: not self.cooldowns.up(p.name)):
            todo = [t for t in targets if t not in done and p.supports(source, t)]
            if not todo:
                continue
            for batch in ([todo] if p.batches else [[t] for t in todo]):
                try:
                    done.update(p.translate_many(text, source, batch, context))
                except EngineError as exc:
                    for t in batch:
                        errors[t].append((p.name, exc))
                    if exc.retryable:
                        self.cooldowns.mark(p.name)
                        break
        missing = [t for t in targets if t not in done]
        if missing:
            raise AllEnginesFailedError([e for t in missing for e in errors[t]] or [
                (self.name, UnsupportedLanguageError(f"no engine translates {source} → {missing[0]}"))])
        return done

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "providers": [
            dict(p.status(), cooling_down=not self.cooldowns.up(p.name)) for p in self.providers]}
