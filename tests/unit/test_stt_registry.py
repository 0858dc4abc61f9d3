"""unit: the speech engine registry and fallback wrapper, with small in-test providers.

These providers stand in for remote services that fail; the real local engine is tested in
test_stt_local.py.
"""
from __future__ import annotations

from typing import Any

import pytest

from engines.errors import AllEnginesFailedError, ConfigurationError, EngineConnectionError
from engines.stt.base import STT, SpeechEvent, SpeechStream, STTCapabilities
from engines.stt.fallback import FallbackSTT
from engines.stt.registry import STTRegistry

pytestmark = pytest.mark.unit


class Scripted(STT):
    """Answers with a fixed text, or fails the way it is told to."""

    def __init__(self, name: str, text: str = "", fail: Exception | None = None,
                 languages: frozenset[str] = frozenset({"en", "es"})) -> None:
        self.name, self.text, self.fail, self.calls = name, text, fail, 0
        self._langs = languages

    @property
    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(streaming=False, interim_results=False, offline=False, languages=self._langs)

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        self.calls += 1
        if self.fail:
            raise self.fail
        return self.text

    def stream(self, language: str, key_prefix: str, options: Any = None) -> SpeechStream:
        stt = self

        class _S(SpeechStream):
            def push(self, pcm16: bytes) -> list[SpeechEvent]:
                return []

            def flush(self) -> list[SpeechEvent]:
                return [SpeechEvent("final", stt.text, language, key_prefix, 0, 0, 0)]
        return _S()


def test_unknown_engine_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown speech engine 'grok'"):
        STTRegistry({"local": lambda: Scripted("local")}, default="grok")
    reg = STTRegistry({"local": lambda: Scripted("local")})
    with pytest.raises(ConfigurationError):
        reg.get("nope")


def test_failing_provider_falls_back_and_is_skipped_while_cooling_down() -> None:
    broken = Scripted("premium", fail=EngineConnectionError("down", engine="premium"))
    local = Scripted("local", text="hello")
    fb = FallbackSTT([broken, local])
    assert fb.transcribe(b"\0" * 320, "en")[0] == "hello"
    assert fb.transcribe(b"\0" * 320, "en")[0] == "hello"
    assert broken.calls == 1 and local.calls == 2


def test_all_providers_failing_names_each_one() -> None:
    fb = FallbackSTT([Scripted("a", fail=EngineConnectionError("a down")),
                      Scripted("b", fail=EngineConnectionError("b down"))])
    with pytest.raises(AllEnginesFailedError, match="a: a down; b: b down"):
        fb.transcribe(b"\0" * 320, "en")


def test_stream_opens_on_a_provider_that_knows_the_language() -> None:
    fb = FallbackSTT([Scripted("en-only", "x", languages=frozenset({"en"})), Scripted("es", "hola")])
    assert fb.stream("es", "k").flush()[0].text == "hola"


def test_registry_puts_the_default_behind_a_chosen_provider() -> None:
    reg = STTRegistry({"local": lambda: Scripted("local", "from local"),
                       "premium": lambda: Scripted("premium", fail=EngineConnectionError("x"))})
    assert reg.get("premium").transcribe(b"\0" * 320, "en")[0] == "from local"
    assert reg.get().name == "local"
