"""The engine registries of each kind, built from Settings and the providers' records
(engines.providers.PROVIDERS): every registered provider's engines, those that cannot be used here
listed as unavailable with why (and never contacted), in the operator's failover order, with the
daily budgets behind the premium ones. The web process, the workers and the speech process all
build theirs here. Nothing here names a provider: what differs between them is in their records."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.settings import Settings
from core.usage import budget
from engines.providers import PROVIDERS
from engines.providers.base import KINDS, Context, Provider, eventlet_patched
from engines.registry import Registry
from engines.stt.registry import STTRegistry
from engines.translation.registry import TranslatorRegistry
from engines.tts.registry import TTSRegistry

__all__ = ["KINDS", "LABELS", "NOTES", "OFF_LOOP", "PREMIUM", "PROVIDERS", "choices",
           "stt_registry", "translator_registry", "tts_registry"]

# Engines whose use is billed (and metered, core.usage; capped, core.premium).
PREMIUM = frozenset(n for p in PROVIDERS if p.premium for kind in KINDS for n in p.names(kind))
# Translation engines an eventlet process (the embedded web) has the speech process call
# (core.offloop): their client hangs under eventlet.
OFF_LOOP = frozenset(n for p in PROVIDERS if p.off_loop for n in p.names("translation"))
LABELS = {n: p.label_of(n) for p in PROVIDERS for kind in KINDS for n in p.names(kind)}
# What the page says under an engine of a kind when it is chosen.
NOTES = {kind: {p.name: p.notes[kind] for p in PROVIDERS if kind in p.notes}
         for kind in KINDS if any(kind in p.notes for p in PROVIDERS)}


def _context(settings: Settings, provider: Provider[Any]) -> Context:
    """What the provider's factories get: runtime files, and the daily budget of its units."""
    limits = budget(settings)
    spent = (lambda unit: limits.spent(provider.name, unit)) if limits.limits else None
    return Context(var_dir=settings.var_dir, spent=spent)


def _factory(settings: Settings, provider: Provider[Any], kind: str, engine: str) -> Callable[[], Any]:
    """A factory of one engine, configured when it is first made. A translation engine whose
    client hangs under eventlet is, in an eventlet process, called through the speech process."""
    def make() -> Any:
        section = provider.of(settings)
        made = provider.engines[kind][engine](section, _context(settings, provider))
        if kind != "translation" or provider.off_loop is None or not eventlet_patched():
            return made
        from core.offloop import SpeechProcessTranslator
        return SpeechProcessTranslator(made, settings, timeout_s=provider.off_loop(section))
    return make


def _engines(settings: Settings, kind: str) -> dict[str, Any]:
    """The registry's arguments for `kind`: every provider's engines, and which cannot run here."""
    factories: dict[str, Callable[[], Any]] = {}
    unavailable: dict[str, str] = {}
    for p in PROVIDERS:
        why = p.missing(p.of(settings), kind)
        for engine in p.names(kind):
            factories[engine] = _factory(settings, p, kind, engine)
            if why:
                unavailable[engine] = why
    return {"factories": factories, "unavailable": unavailable,
            "cooldown_s": settings.engines.cooldown_s}


def stt_registry(settings: Settings) -> STTRegistry:
    return STTRegistry(default=settings.engines.stt, order=settings.engines.stt_order,
                       **_engines(settings, "stt"))


def translator_registry(settings: Settings) -> TranslatorRegistry:
    return TranslatorRegistry(default=settings.engines.translation,
                              order=settings.engines.translation_order,
                              **_engines(settings, "translation"))


def tts_registry(settings: Settings) -> TTSRegistry:
    return TTSRegistry(default=settings.engines.tts, order=settings.engines.tts_order,
                       **_engines(settings, "tts"))


def choices(settings: Settings) -> dict[str, Any]:
    """What /api/engines shows: per kind, every engine, whether it can be used here (and if not
    why), premium or not; and each kind's default."""
    regs: dict[str, Registry[Any]] = {"stt": stt_registry(settings),
                                      "translation": translator_registry(settings),
                                      "tts": tts_registry(settings)}
    out: dict[str, Any] = {"default": {k: r.default for k, r in regs.items()}}
    for kind, reg in regs.items():
        out[kind] = [dict(c, label=LABELS.get(c["name"], c["name"]), premium=c["name"] in PREMIUM)
                     for c in reg.choices()]
    return out
