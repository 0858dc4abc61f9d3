"""unit: translation registry, fallback wrapper and Apertium output clean-up.

The scripted providers stand in for remote engines that fail; Apertium itself is exercised for real
by the integration and e2e tests.
"""
from __future__ import annotations

import pytest

from engines.errors import (
    AllEnginesFailedError,
    ConfigurationError,
    EngineTimeoutError,
    UnsupportedLanguageError,
)
from engines.languages import partner, translation_quality
from engines.providers.local.apertium import clean
from engines.translation.base import Capabilities, Translator
from engines.translation.fallback import FallbackTranslator
from engines.translation.registry import TranslatorRegistry
from engines.translation.routes import (
    all_routes,
    direct_graph,
    installed_pairs,
    installed_routes,
    shortest_route,
)

pytestmark = pytest.mark.unit


class Scripted(Translator):
    def __init__(self, name: str, prefix: str = "", fail: Exception | None = None,
                 pairs: frozenset[tuple[str, str]] = frozenset({("en", "es")})) -> None:
        self.name, self.prefix, self.fail, self.pairs, self.calls = name, prefix, fail, pairs, 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(offline=False, languages=frozenset(x for p in self.pairs for x in p))

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    def _translate_impl(self, text: str, source: str, target: str) -> tuple[str, tuple[str, ...]]:
        self.calls += 1
        if self.fail:
            raise self.fail
        return self.prefix + text, (source, target)


def test_same_language_needs_no_engine_call() -> None:
    t = Scripted("x", fail=EngineTimeoutError("never called"))
    assert t.translate("hola", "es", "es").text == "hola" and t.calls == 0


def test_unsupported_pair_is_an_error_not_a_fake_translation() -> None:
    with pytest.raises(UnsupportedLanguageError, match="en → de"):
        Scripted("x").translate("hello", "en", "de")


def test_retryable_failure_is_retried_once_by_the_base_class() -> None:
    t = Scripted("flaky", fail=EngineTimeoutError("slow"))
    with pytest.raises(EngineTimeoutError):
        t.translate("hello", "en", "es")
    assert t.calls == 2


def test_fallback_uses_the_next_provider_and_cools_the_broken_one_down() -> None:
    broken = Scripted("premium", fail=EngineTimeoutError("slow"))
    local = Scripted("local", prefix="[es] ")
    fb = FallbackTranslator([broken, local])
    assert fb.translate("hello", "en", "es").text == "[es] hello"
    assert fb.translate("again", "en", "es").text == "[es] again"
    assert broken.calls == 2  # its own retry, then skipped while cooling down
    assert fb.status()["providers"][0]["cooling_down"] is True


def test_a_failed_provider_stays_cooled_down_across_utterances_from_the_registry() -> None:
    """The registry hands out one fallback chain per preference: a provider that failed on one
    utterance is skipped on the next, not tried first again with fresh cooldowns."""
    broken = Scripted("premium", fail=EngineTimeoutError("slow"))
    local = Scripted("local", prefix="[es] ")
    reg = TranslatorRegistry({"premium": lambda: broken, "local": lambda: local}, default="local")
    assert reg.get("premium").translate("hello", "en", "es").text == "[es] hello"
    assert reg.get("premium").translate("again", "en", "es").text == "[es] again"
    assert broken.calls == 2  # the first utterance's try and retry only
    assert reg.get("premium") is reg.get("premium") and reg.get("local") is local


def test_fallback_that_cannot_translate_names_every_provider() -> None:
    fb = FallbackTranslator([Scripted("a", fail=EngineTimeoutError("a slow")),
                             Scripted("b", fail=EngineTimeoutError("b slow"))])
    with pytest.raises(AllEnginesFailedError, match="a: a slow; b: b slow"):
        fb.translate("hello", "en", "es")


def test_unknown_engine_is_a_configuration_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="unknown translation engine 'grok'; known: local"):
        TranslatorRegistry({"local": lambda: Scripted("local")}, default="grok")


def test_apertium_output_is_tidied() -> None:
    assert clean("  Hola  *mundo ,  qué #tal  ? ") == "Hola mundo, qué tal?"


def _graph(*pairs: str) -> dict[str, set[str]]:
    """Apertium pair names ("eng-spa") as a direct graph of our codes."""
    return direct_graph({tuple(p.split("-", 1)) for p in pairs})  # type: ignore[misc]


def test_routes_take_big_pivots_and_never_more_than_two() -> None:
    g = _graph("eng-spa", "spa-eng", "spa-ita", "ita-spa", "spa-fra", "ron-spa", "isl-eng",
               "eng-hbs_HR", "hbs-mkd", "bre-fra", "fra-cat", "cat-eng")
    assert shortest_route(g, "en", "it") == ("en", "es", "it")
    assert shortest_route(g, "ro", "fr") == ("ro", "es", "fr")
    assert shortest_route(g, "en", "mk") == ("en", "hr", "mk")  # a target variant (hbs_HR) is hr
    assert shortest_route(g, "is", "it") == ("is", "en", "es", "it")
    assert shortest_route(g, "br", "it") is None  # br → fr → ca → en → es → it: four pivots
    assert shortest_route(g, "es", "ro") is None  # Apertium only has ro → es
    assert shortest_route(g, "en", "hbs") is None  # the plain variant is not a language of ours
    routes = all_routes(g)
    assert routes["en"]["it"] == ("en", "es", "it") and "en" not in routes["en"]


def test_translation_marks_follow_kinship_and_pivots() -> None:
    assert translation_quality(("es", "it")) == "good"
    assert translation_quality(("en", "es")) == "fair"
    assert translation_quality(("ro", "es", "it")) == "fair"
    assert translation_quality(("en", "es", "it")) == "poor"
    assert translation_quality(("is", "en", "es", "it")) == "poor"
    assert translation_quality(("br", "fr", "ca", "en", "es")) == "none"
    assert translation_quality(None) == "none"


def test_solo_default_is_the_usual_partner_the_engine_reaches() -> None:
    assert partner("en", {"es", "fr"}) == "es"
    assert partner("es", {"en", "ca", "fr"}) == "en"
    assert partner("gl", {"en", "es", "pt"}) == "es"
    assert partner("ro", {"es", "it"}) == "es"  # no English locally: the most widely spoken reached
    assert partner("de", set()) == "en"  # nothing local: premium engines may translate


def test_installed_pairs_are_read_from_mode_file_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("en-gl.mode", "ro-es.mode", "eng-hbs_HR.mode", "eo-en-compounds.mode", "README"):
        (tmp_path / name).write_text("")
    assert installed_pairs(str(tmp_path)) == {("eng", "glg"), ("ron", "spa"), ("eng", "hbs_HR")}
    assert installed_routes(str(tmp_path))["en"] == {"gl": ("en", "gl"), "hr": ("en", "hr")}
