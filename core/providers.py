"""The engine registries of each kind, built from Settings: the embedded engines always, xAI Grok
when XAI_API_KEY is set, Google Cloud when its credentials are (each listed as unavailable
otherwise, with why, and never contacted), in the operator's failover order, with the daily
budgets behind the premium ones. The web process, the workers and the speech process all build
theirs here."""
from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.settings import Settings
from engines.google import GoogleConfig
from engines.registry import Registry
from engines.stt.registry import BUILTIN as STT_BUILTIN
from engines.stt.registry import STTRegistry
from engines.translation.apertium import NOTE as APERTIUM_NOTE
from engines.translation.registry import BUILTIN as TRANSLATION_BUILTIN
from engines.translation.registry import TranslatorRegistry
from engines.tts.registry import BUILTIN as TTS_BUILTIN
from engines.tts.registry import TTSRegistry
from engines.xai import XAIConfig

GROK = "grok"
GOOGLE = "google"
PREMIUM = frozenset({GROK, GOOGLE})  # providers whose use is billed (and metered, core.usage)
# Translation providers an eventlet process (the embedded web) has the speech process call
# (core.offloop): their gRPC client hangs under eventlet.
OFF_LOOP = frozenset({GOOGLE})
NO_KEY = "no XAI_API_KEY configured"
LABELS = {"local": "Local", GROK: "xAI Grok", GOOGLE: "Google Cloud", "espeak": "espeak-ng"}
KINDS = ("stt", "translation", "tts")
# What the page says under an engine of a kind when it is chosen.
NOTES = {"translation": {"local": APERTIUM_NOTE}}


def xai_config(settings: Settings) -> XAIConfig:
    from core.usage import budget
    limits = budget(settings)
    return XAIConfig(api_key=settings.xai_api_key, base_url=settings.xai_base_url,
                     translation_model=settings.xai_translation_model,
                     timeout_s=settings.xai_timeout_s, stall_s=settings.xai_stall_s,
                     voice=settings.xai_voice,
                     spent=(lambda unit: limits.spent(GROK, unit)) if limits.limits else None)


def _credentials_file(settings: Settings) -> dict[str, Any] | None:
    """The Google credentials file's contents (None if it cannot be read as one)."""
    try:
        info = json.loads(Path(settings.google_credentials).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("type"), str) else None


def google_project(settings: Settings) -> str:
    """GOOGLE_CLOUD_PROJECT, else the credentials file's project."""
    if settings.google_project or not settings.google_credentials:
        return settings.google_project
    info = _credentials_file(settings) or {}
    return str(info.get("project_id") or info.get("quota_project_id") or "")


def google_missing(settings: Settings, kind: str) -> str:
    """Why Google cannot be used for `kind` here ("" if it can): the standard credentials, and
    for translation a project (v3 bills one)."""
    if not settings.google_credentials:
        return "no GOOGLE_APPLICATION_CREDENTIALS configured"
    if _credentials_file(settings) is None:
        return "GOOGLE_APPLICATION_CREDENTIALS does not name a readable Google credentials file"
    if kind == "translation" and not google_project(settings):
        return "no GOOGLE_CLOUD_PROJECT configured"
    return ""


def google_config(settings: Settings) -> GoogleConfig:
    from core.usage import budget
    limits = budget(settings)
    return GoogleConfig(credentials_file=settings.google_credentials, project=google_project(settings),
                        endpoint=settings.google_endpoint, timeout_s=settings.google_timeout_s,
                        stall_s=settings.google_stall_s, stt_model=settings.google_stt_model,
                        stt_rotate_s=settings.google_stt_rotate_s,
                        stt_max_stream_s=settings.google_stt_max_stream_s,
                        voice=settings.google_voice,
                        spent=(lambda unit: limits.spent(GOOGLE, unit)) if limits.limits else None)


def _premium(settings: Settings, kind: str) -> dict[str, str]:
    out = {} if settings.xai_api_key else {GROK: NO_KEY}
    missing = google_missing(settings, kind)
    if missing:
        out[GOOGLE] = missing
    return out


def _made(module: str, cls: str, config: Callable[[], Any]) -> Callable[[], Any]:
    """A factory of a premium provider of one kind, imported when first made."""
    def make() -> Any:
        return getattr(importlib.import_module(module), cls)(config())
    return make


def _google_translator(settings: Settings) -> Any:
    from engines.google import eventlet_patched
    from engines.translation.google import GoogleTranslator
    provider = GoogleTranslator(google_config(settings))
    if not eventlet_patched():
        return provider
    from core.offloop import SpeechProcessTranslator
    return SpeechProcessTranslator(provider, settings, timeout_s=settings.google_timeout_s)


def _premiums(settings: Settings, kind: str) -> dict[str, Callable[[], Any]]:
    grok = {"stt": ("engines.stt.grok", "GrokSTT"), "translation": ("engines.translation.grok",
            "GrokTranslator"), "tts": ("engines.tts.grok", "GrokTTS")}[kind]
    google = {"stt": ("engines.stt.google", "GoogleSTT"), "translation": ("", ""),
              "tts": ("engines.tts.google", "GoogleTTS")}[kind]
    return {GROK: _made(*grok, lambda: xai_config(settings)),
            GOOGLE: (lambda: _google_translator(settings)) if kind == "translation"
            else _made(*google, lambda: google_config(settings))}


def stt_registry(settings: Settings) -> STTRegistry:
    return STTRegistry(dict(STT_BUILTIN, **_premiums(settings, "stt")),
                       default=settings.stt_engine, order=settings.stt_engines,
                       unavailable=_premium(settings, "stt"), cooldown_s=settings.engine_cooldown_s)


def translator_registry(settings: Settings) -> TranslatorRegistry:
    return TranslatorRegistry(dict(TRANSLATION_BUILTIN, **_premiums(settings, "translation")),
                              default=settings.translation_engine,
                              order=settings.translation_engines,
                              unavailable=_premium(settings, "translation"),
                              cooldown_s=settings.engine_cooldown_s)


def tts_registry(settings: Settings) -> TTSRegistry:
    return TTSRegistry(dict(TTS_BUILTIN, **_premiums(settings, "tts")),
                       default=settings.tts_engine, order=settings.tts_engines,
                       unavailable=_premium(settings, "tts"), cooldown_s=settings.engine_cooldown_s)


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
