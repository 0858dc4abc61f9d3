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
from engines.stt.registry import STTRegistry
from engines.translation.apertium import NOTE as APERTIUM_NOTE
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
    return XAIConfig(api_key=settings.xai.api_key, base_url=settings.xai.base_url,
                     translation_model=settings.xai.translation_model,
                     timeout_s=settings.xai.timeout_s, stall_s=settings.xai.stall_s,
                     voice=settings.xai.voice,
                     spent=(lambda unit: limits.spent(GROK, unit)) if limits.limits else None)


def _credentials_file(settings: Settings) -> dict[str, Any] | None:
    """The Google credentials file's contents (None if it cannot be read as one)."""
    try:
        info = json.loads(Path(settings.google.credentials).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("type"), str) else None


def google_project(settings: Settings) -> str:
    """GOOGLE_CLOUD_PROJECT, else the credentials file's project."""
    if settings.google.project or not settings.google.credentials:
        return settings.google.project
    info = _credentials_file(settings) or {}
    return str(info.get("project_id") or info.get("quota_project_id") or "")


def google_missing(settings: Settings, kind: str) -> str:
    """Why Google cannot be used for `kind` here ("" if it can): the standard credentials, and
    for translation a project (v3 bills one)."""
    if not settings.google.credentials:
        return "no GOOGLE_APPLICATION_CREDENTIALS configured"
    if _credentials_file(settings) is None:
        return "GOOGLE_APPLICATION_CREDENTIALS does not name a readable Google credentials file"
    if kind == "translation" and not google_project(settings):
        return "no GOOGLE_CLOUD_PROJECT configured"
    return ""


def google_config(settings: Settings) -> GoogleConfig:
    from core.usage import budget
    limits = budget(settings)
    return GoogleConfig(credentials_file=settings.google.credentials, project=google_project(settings),
                        endpoint=settings.google.endpoint, timeout_s=settings.google.timeout_s,
                        stall_s=settings.google.stall_s, stt_model=settings.google.stt_model,
                        stt_rotate_s=settings.google.stt_rotate_s,
                        stt_max_stream_s=settings.google.stt_max_stream_s,
                        voice=settings.google.voice,
                        spent=(lambda unit: limits.spent(GOOGLE, unit)) if limits.limits else None)


def _premium(settings: Settings, kind: str) -> dict[str, str]:
    out = {} if settings.xai.api_key else {GROK: NO_KEY}
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
    return SpeechProcessTranslator(provider, settings, timeout_s=settings.google.timeout_s)


def _premiums(settings: Settings, kind: str) -> dict[str, Callable[[], Any]]:
    grok = {"stt": ("engines.stt.grok", "GrokSTT"), "translation": ("engines.translation.grok",
            "GrokTranslator"), "tts": ("engines.tts.grok", "GrokTTS")}[kind]
    google = {"stt": ("engines.stt.google", "GoogleSTT"), "translation": ("", ""),
              "tts": ("engines.tts.google", "GoogleTTS")}[kind]
    return {GROK: _made(*grok, lambda: xai_config(settings)),
            GOOGLE: (lambda: _google_translator(settings)) if kind == "translation"
            else _made(*google, lambda: google_config(settings))}


def local_stt(settings: Settings, model: str | None = None) -> Any:
    """The local recogniser, configured by the Whisper section (`model` instead of its model)."""
    from engines.stt.whisper import WhisperSTT
    return WhisperSTT.from_config(settings.whisper.config(settings.var_dir, model))


def local_translator(settings: Settings) -> Any:
    """The local translator, configured by the Apertium section."""
    from engines.translation.apertium import ApertiumTranslator
    return ApertiumTranslator.from_config(settings.apertium.config())


def stt_registry(settings: Settings) -> STTRegistry:
    return STTRegistry({"local": lambda: local_stt(settings), **_premiums(settings, "stt")},
                       default=settings.engines.stt, order=settings.engines.stt_order,
                       unavailable=_premium(settings, "stt"), cooldown_s=settings.engines.cooldown_s)


def translator_registry(settings: Settings) -> TranslatorRegistry:
    return TranslatorRegistry({"local": lambda: local_translator(settings),
                               **_premiums(settings, "translation")},
                              default=settings.engines.translation,
                              order=settings.engines.translation_order,
                              unavailable=_premium(settings, "translation"),
                              cooldown_s=settings.engines.cooldown_s)


def tts_registry(settings: Settings) -> TTSRegistry:
    return TTSRegistry(dict(TTS_BUILTIN, **_premiums(settings, "tts")),
                       default=settings.engines.tts, order=settings.engines.tts_order,
                       unavailable=_premium(settings, "tts"), cooldown_s=settings.engines.cooldown_s)


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
