"""xAI Grok, a premium provider of all three kinds: streaming recognition (stt.py), translation
(translation.py) and voices (tts.py), sharing the account's configuration and HTTP handling
(config.py). Wire facts and their sources: docs/providers/xai.md."""
from __future__ import annotations

from typing import Any

from engines.providers.base import Context, Provider
from engines.providers.xai.config import LABEL, NAME
from engines.providers.xai.settings import XAI

NO_KEY = "no XAI_API_KEY configured"


def _stt(section: XAI, context: Context) -> Any:
    from engines.providers.xai.stt import GrokSTT
    return GrokSTT(section.config(context.spent))


def _translator(section: XAI, context: Context) -> Any:
    from engines.providers.xai.translation import GrokTranslator
    return GrokTranslator(section.config(context.spent))


def _voice(section: XAI, context: Context) -> Any:
    from engines.providers.xai.tts import GrokTTS
    return GrokTTS(section.config(context.spent))


def _missing(section: XAI, kind: str) -> str:
    return "" if section.api_key else NO_KEY


PROVIDER = Provider(
    name=NAME, label=LABEL, attribute="xai", section=XAI, premium=True,
    engines={"stt": {NAME: _stt}, "translation": {NAME: _translator}, "tts": {NAME: _voice}},
    missing=_missing, budget=XAI.budget, says_why=False)
