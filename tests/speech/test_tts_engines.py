"""integration: local speech synthesis (piper for English, espeak-ng for the rest), the registry,
and the size-bounded cache."""
from __future__ import annotations

import pytest

from engines.errors import ConfigurationError
from engines.tts.base import Synthesis, wav_info
from engines.tts.cache import TTSCache
from engines.tts.registry import TTSRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local():  # type: ignore[no-untyped-def]
    reg = TTSRegistry()
    yield reg.get()
    reg.close()


def test_english_is_spoken_by_piper_and_decodes(local) -> None:  # type: ignore[no-untyped-def]
    out = local.synthesize("Good morning, everyone.", "en")
    assert out.voice == "piper:joe" and out.sample_rate == 22050
    assert wav_info(out.wav) == (22050, out.duration_ms) and 700 < out.duration_ms < 5000


@pytest.mark.parametrize("lang", ["es", "fr", "de"])
def test_other_languages_are_spoken_by_espeak(local, lang: str) -> None:  # type: ignore[no-untyped-def]
    out = local.synthesize("Buenos días." if lang == "es" else "Bonjour.", lang)
    assert out.voice.startswith("espeak:") and 300 < out.duration_ms < 5000


def test_unknown_engine_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown speech synthesis engine 'grok'"):
        TTSRegistry().check("grok")


def test_cache_evicts_least_recently_used_beyond_its_byte_bound() -> None:
    def item(n: int) -> Synthesis:
        return Synthesis(b"x" * n, 16000, 1.0, "e", "v", "en", 0.0)

    cache = TTSCache(max_bytes=250)
    cache.put(("e", "v", "en", "a"), item(100))
    cache.put(("e", "v", "en", "b"), item(100))
    assert cache.get(("e", "v", "en", "a")) is not None  # a is now the most recent
    cache.put(("e", "v", "en", "c"), item(100))
    assert cache.get(("e", "v", "en", "b")) is None
    assert cache.get(("e", "v", "en", "a")) is not None and cache.bytes == 200 and len(cache) == 2
