"""Google Cloud, a premium provider of all three kinds: streaming recognition (stt.py),
Translation v3 (translation.py) and voices (tts.py) over gRPC, sharing the account's
configuration and client handling (config.py). Wire facts and sources: docs/providers/google.md.

Its gRPC client hangs under eventlet (config.py), so the record says `off_loop`: the embedded web
process has the speech process make its translations."""
from __future__ import annotations

from typing import Any

from engines.providers.base import Context, Provider
from engines.providers.google.config import LABEL, NAME
from engines.providers.google.settings import Google


def _stt(section: Google, context: Context) -> Any:
    from engines.providers.google.stt import GoogleSTT
    return GoogleSTT(section.config(context.spent))


def _translator(section: Google, context: Context) -> Any:
    from engines.providers.google.translation import GoogleTranslator
    return GoogleTranslator(section.config(context.spent))


def _voice(section: Google, context: Context) -> Any:
    from engines.providers.google.tts import GoogleTTS
    return GoogleTTS(section.config(context.spent))


def _timeout(section: Google) -> float:
    return section.timeout_s


PROVIDER = Provider(
    name=NAME, label=LABEL, attribute="google", section=Google, premium=True,
    engines={"stt": {NAME: _stt}, "translation": {NAME: _translator}, "tts": {NAME: _voice}},
    missing=Google.missing, budget=Google.budget, off_loop=_timeout)
