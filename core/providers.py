"""The engine registries of each kind, built from Settings: the embedded engines always, xAI Grok
when XAI_API_KEY is set (listed as unavailable otherwise, and never contacted), in the operator's
failover order, with the daily budget behind Grok. The web process, the workers and the speech
process all build theirs here."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from core.settings import Settings
from engines.registry import Registry
from engines.stt.registry import BUILTIN as STT_BUILTIN
from engines.stt.registry import STTRegistry
from engines.translation.registry import BUILTIN as TRANSLATION_BUILTIN
from engines.translation.registry import TranslatorRegistry
from engines.tts.registry import BUILTIN as TTS_BUILTIN
from engines.tts.registry import TTSRegistry
from engines.xai import XAIConfig

GROK = "grok"
PREMIUM = frozenset({GROK})  # providers whose use is billed (and metered, core.usage)
NO_KEY = "no XAI_API_KEY configured"
LABELS = {"local": "Local", GROK: "xAI Grok", "espeak": "espeak-ng"}
KINDS = ("stt", "translation", "tts")


def xai_config(settings: Settings) -> XAIConfig:
    from core.usage import budget
    limits = budget(settings)
    return XAIConfig(api_key=settings.xai_api_key, base_url=settings.xai_base_url,
                     translation_model=settings.xai_translation_model,
                     timeout_s=settings.xai_timeout_s, stall_s=settings.xai_stall_s,
                     voice=settings.xai_voice,
                     spent=(lambda unit: limits.spent(GROK, unit)) if limits.limits else None)


def _premium(settings: Settings) -> dict[str, str]:
    return {} if settings.xai_api_key else {GROK: NO_KEY}


def _grok(module: str, cls: str, settings: Settings) -> Callable[[], Any]:
    """A factory of the Grok provider of one kind, imported when first made."""
    def make() -> Any:
        return getattr(importlib.import_module(module), cls)(xai_config(settings))
    return make


def stt_registry(settings: Settings) -> STTRegistry:
    return STTRegistry(dict(STT_BUILTIN, grok=_grok("engines.stt.grok", "GrokSTT", settings)),
                       default=settings.stt_engine, order=settings.stt_engines,
                       unavailable=_premium(settings), cooldown_s=settings.engine_cooldown_s)


def translator_registry(settings: Settings) -> TranslatorRegistry:
    factories = dict(TRANSLATION_BUILTIN,
                     grok=_grok("engines.translation.grok", "GrokTranslator", settings))
    return TranslatorRegistry(factories, default=settings.translation_engine,
                              order=settings.translation_engines, unavailable=_premium(settings),
                              cooldown_s=settings.engine_cooldown_s)


def tts_registry(settings: Settings) -> TTSRegistry:
    return TTSRegistry(dict(TTS_BUILTIN, grok=_grok("engines.tts.grok", "GrokTTS", settings)),
                       default=settings.tts_engine, order=settings.tts_engines,
                       unavailable=_premium(settings), cooldown_s=settings.engine_cooldown_s)


def choices(settings: Settings) -> dict[str, Any]:
    """What /api/engines shows: per kind, every engine, whether it can be used here (and if not
    why), premium or not; and each kind's default."""
    regs: dict[str, Registry[Any]] = {"stt": stt_registry(settings),
                                      "translation": translator_registry(settings),
                                      "tts": tts_registry(settings)}
    out: dict[str, Any] = {"default": {k: r.default for k, r in regs.items()}}
    for kind, reg in regs.items():
        out[kind] = [dict(c, label=LABELS.get(c["name"], c["name"]), premium=c["name"] == GROK)
                     for c in reg.choices()]
    return out
