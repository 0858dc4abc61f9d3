"""The local engines, embedded in the service and always available: Whisper recognition
(whisper.py, whisper_stream.py), Apertium translation (apertium.py), Piper speech for English with
espeak-ng for the rest (piper.py, espeak.py; espeak-ng alone is the `espeak` engine). Model
runtimes are imported only when an engine is made, in the speech process."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from engines.providers.base import Context, Provider
from engines.providers.local.apertium import NOTE
from engines.providers.local.settings import Local

NAME = "local"


def recogniser(section: Local, var_dir: Path, model: str | None = None) -> Any:
    """The local recogniser, configured by its section (`model` instead of its model)."""
    from engines.providers.local.whisper import WhisperSTT
    return WhisperSTT.from_config(section.whisper.config(var_dir, model))


def _stt(section: Local, context: Context) -> Any:
    return recogniser(section, context.var_dir)


def _translator(section: Local, context: Context) -> Any:
    from engines.providers.local.apertium import ApertiumTranslator
    return ApertiumTranslator.from_config(section.apertium.config())


# These functions are not named after this package's modules (`espeak`): importing a submodule
# sets the package's attribute of that name, which would replace a function called the same.
def piper_or_espeak() -> Any:
    """Piper for English, espeak-ng for the rest."""
    from engines.providers.local.espeak import EspeakTTS
    from engines.providers.local.piper import PiperTTS
    from engines.tts.fallback import FallbackTTS
    return FallbackTTS([PiperTTS(), EspeakTTS()], name=NAME)


def espeak_alone() -> Any:
    from engines.providers.local.espeak import EspeakTTS
    return EspeakTTS()


PROVIDER = Provider(
    name=NAME, label="Local", attribute="local", section=Local,
    engines={"stt": {NAME: _stt}, "translation": {NAME: _translator},
             "tts": {NAME: lambda section, context: piper_or_espeak(),
                     "espeak": lambda section, context: espeak_alone()}},
    labels={"espeak": "espeak-ng"}, notes={"translation": NOTE})
