"""The translation interface every provider implements."""
from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from engines.errors import EngineError, UnsupportedLanguageError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; shown in /health and used for routing."""

    offline: bool
    languages: frozenset[str] = field(default_factory=frozenset)
    note: str = ""


@dataclass(frozen=True)
class Context:
    """What a provider that reads context may use: the room's last few utterances (source texts,
    oldest first; for coherence, never translated themselves) and the room's glossary (terms kept
    verbatim). Local engines ignore it."""

    previous: tuple[str, ...] = ()
    glossary: tuple[str, ...] = ()


@dataclass(frozen=True)
class Translation:
    """One translated text, with the engine that made it and how long it took; `usage` is what a
    premium provider billed for it ({"tokens": ..., "characters": ...}), empty for local ones."""

    text: str
    source: str
    target: str
    engine: str
    elapsed_ms: float
    route: tuple[str, ...] = ()
    usage: dict[str, float] = field(default_factory=dict)


# Targets whose capitals are grammar, not a sentence start (German nouns; English "I").
_CAPITALS_KEPT = frozenset({"de", "lb"})


def continued_case(source: str, translated: str, target: str) -> str:
    """A text that starts lower-case continues a sentence (a segment of a longer utterance): its
    translation starts lower-case too, where the engine capitalised it as a sentence of its own."""
    first = next((c for c in source if c.isalpha()), "")
    lead = next((i for i, c in enumerate(translated) if c.isalpha()), -1)
    if not first.islower() or lead < 0 or not translated[lead].isupper() or target in _CAPITALS_KEPT:
        return translated
    word = translated[lead:].split(maxsplit=1)[0]
    if word.isupper() or (target == "en" and word.split("'")[0] == "I"):
        return translated  # an acronym, or English "I"
    return translated[:lead] + translated[lead].lower() + translated[lead + 1:]


class Translator(ABC):
    """Base class: `translate()` owns validation, timing, one retry and error logging;
    providers implement `_translate_impl()`."""

    name: str = "base"
    max_attempts: int = 2
    batches: bool = False  # translates several targets of one text in one request

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abstractmethod
    def supports(self, source: str, target: str) -> bool:
        """True if this provider can translate source → target right now."""

    @abstractmethod
    def _translate_impl(self, text: str, source: str, target: str) -> tuple[str, tuple[str, ...]]:
        """Translate one text; return (translation, route of language codes)."""

    def start(self) -> None:
        """Acquire resources and warm up; the default does nothing."""

    def close(self) -> None:
        """Release resources; the default does nothing."""

    def status(self) -> dict[str, Any]:
        """State for /health."""
        caps = self.capabilities
        return {"name": self.name, "available": True, "offline": caps.offline,
                "languages": sorted(caps.languages)}

    def translate_many(self, text: str, source: str, targets: list[str],
                       context: Context | None = None) -> dict[str, Translation]:
        """`text` into each of `targets`; the default is one translate() per target (all or an
        EngineError). Providers that batch (`batches`) answer them all in one request."""
        return {t: self.translate(text, source, t, context) for t in targets}

    def translate(self, text: str, source: str, target: str,
                  context: Context | None = None) -> Translation:
        """Translate `text`; raises an EngineError subclass, never returns a fake translation.
        `context` is for providers that read it (the base ignores it)."""
        if source == target:
            return Translation(text, source, target, self.name, 0.0, (source,))
        if not self.supports(source, target):
            raise UnsupportedLanguageError(
                f"{self.name} cannot translate {source} → {target}", engine=self.name)
        started = time.perf_counter()
        for attempt in range(1, self.max_attempts + 1):
            try:
                out, route = self._translate_impl(text, source, target)
                out = continued_case(text, out, target)
                elapsed = (time.perf_counter() - started) * 1000
                return Translation(out, source, target, self.name, elapsed, route)
            except EngineError as exc:
                if not exc.retryable or attempt == self.max_attempts:
                    logger.warning("translation failed", exc_info=True,
                                   extra={"engine": self.name, "source": source, "target": target,
                                          "attempt": attempt})
                    raise
        raise AssertionError("unreachable")


class BatchTranslator(Translator):
    """A provider that answers all of an utterance's targets at once: it implements
    `translate_many` (after `check_targets`), and one target is a batch of one."""

    max_attempts = 1  # the fallback engine is the retry; a second request doubles the wait
    batches = True

    def _translate_impl(self, text: str, source: str, target: str) -> tuple[str, tuple[str, ...]]:
        return self.translate_many(text, source, [target])[target].text, (source, target)

    def translate(self, text: str, source: str, target: str,
                  context: Context | None = None) -> Translation:
        if source == target:
            return super().translate(text, source, target)
        return self.translate_many(text, source, [target], context)[target]

    def check_targets(self, source: str, targets: list[str]) -> None:
        """UnsupportedLanguageError for the first target this provider cannot reach from `source`."""
        bad = [t for t in targets if not self.supports(source, t)]
        if bad:
            raise UnsupportedLanguageError(f"{self.name} cannot translate {source} → {bad[0]}",
                                           engine=self.name)
