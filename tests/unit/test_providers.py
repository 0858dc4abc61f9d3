"""unit: the providers' records (engines/providers/) are all the service reads of a provider: each
has its own section of the settings, its own engine names and variables, and the daily budgets,
premium engines and labels the service derives from them are the ones it has always had."""
from __future__ import annotations

import pytest

from core import providers, usage
from core.settings import Settings
from engines.providers import PROVIDERS

pytestmark = pytest.mark.unit


def _variables(section: type) -> set[str]:
    out: set[str] = set()
    for info in section.model_fields.values():  # type: ignore[attr-defined]
        nested = info.annotation
        out |= _variables(nested) if hasattr(nested, "model_fields") else {info.validation_alias}
    return out


def test_each_provider_has_its_own_section_engine_names_and_variables() -> None:
    settings = Settings()
    for kind in providers.KINDS:
        engines = [n for p in PROVIDERS for n in p.names(kind)]
        assert len(engines) == len(set(engines)), kind
    variables = [_variables(p.section) for p in PROVIDERS]
    assert all(not (a & b) for i, a in enumerate(variables) for b in variables[i + 1:])
    for p in PROVIDERS:
        assert isinstance(p.of(settings), p.section)
    assert [p.name for p in PROVIDERS] == ["local", "grok", "google"]


def test_budgets_premium_engines_and_labels_come_from_the_records() -> None:
    settings = Settings(xai={"daily_audio_minutes": 2, "daily_characters": 100, "daily_tokens": 50},
                        google={"daily_audio_minutes": 1, "daily_characters": 0})
    assert usage.budget(settings).limits == {("grok", "audio_seconds"): 120, ("grok", "characters"): 100,
                                             ("grok", "tokens"): 50, ("google", "audio_seconds"): 60}
    assert usage.budget(Settings()).limits == {}
    assert providers.PREMIUM == {"grok", "google"} and providers.OFF_LOOP == {"google"}
    assert providers.LABELS == {"local": "Local", "espeak": "espeak-ng", "grok": "xAI Grok",
                                "google": "Google Cloud"}
    assert set(providers.NOTES) == {"translation"} and set(providers.NOTES["translation"]) == {"local"}


def test_every_engine_of_every_provider_is_made_whatever_was_imported_before(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each factory makes its engine (not started: no model, no key used), also after every
    engine module was imported: a package's submodule, once imported, is an attribute of the
    package and replaced a factory function of the same name (the espeak engine was a module)."""
    import importlib
    import pkgutil

    import engines.providers as root
    for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
        if not info.name.endswith("apy_launcher"):  # runs under Debian's Python, not ours
            importlib.import_module(info.name)
    settings = Settings(var_dir=tmp_path, xai={"api_key": "k"})
    registries = {"stt": providers.stt_registry, "translation": providers.translator_registry,
                  "tts": providers.tts_registry}
    for kind, build in registries.items():
        registry = build(settings)
        for p in PROVIDERS:
            for engine in p.names(kind):
                made = registry._factories[engine]()
                assert not isinstance(made, type(importlib)), (kind, engine, made)
                assert made.name == engine, (kind, engine, made)
