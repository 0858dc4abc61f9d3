"""e2e: the languages beyond the original five — Apertium pairs reached through pivots, listed with
honest marks in /api/languages, typed text translated through the running service by real APY."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support import Peer, Service, room_with

pytestmark = pytest.mark.e2e

NEW = {"it", "ro", "gl", "eu", "eo", "hr", "mk", "is", "oc", "br"}


def _languages(svc: Service) -> dict[str, Any]:
    r = requests.get(svc.url + "/api/languages", timeout=10)
    assert r.status_code == 200
    return dict(r.json())


def test_new_languages_are_listed_with_honest_marks_routes_and_partners(embedded: Service) -> None:
    body = _languages(embedded)
    langs = {lang["code"]: lang for lang in body["languages"]}
    local = body["local"]
    assert NEW <= set(langs) and NEW <= set(local), "an installed pair is not offered"
    # Each new language reaches a widely spoken one, directly or through pivots.
    for code in NEW:
        assert {"en", "es", "fr"} & set(local[code]), code
    assert local["es"]["it"] == {"quality": "good", "via": []}
    assert local["en"]["it"] == {"quality": "poor", "via": ["es"]}
    assert local["ro"]["es"]["quality"] == "good" and "ro" not in local["es"]  # Apertium: ro → es only
    assert local["en"]["hr"] == {"quality": "fair", "via": []}
    assert "de" not in local and "de" in langs  # accepted, but no local engine translates it
    # Recognition and voice marks: measured or reasoned, never blank.
    assert langs["en"]["hearing"] == "good" and "measured" in langs["en"]["hearingNote"]
    assert langs["eo"]["hearing"] == "none" and "Whisper" in langs["eo"]["hearingNote"]
    assert langs["gl"]["voice"] == "poor" and "Portuguese" in langs["gl"]["voiceNote"]
    assert langs["br"]["voice"] == "none"
    assert all(lang["hearingNote"] and lang["voiceNote"] for lang in langs.values())
    # The solo default: your language's usual partner, reachable where anything is.
    assert [langs[c]["partner"] for c in ("en", "es", "gl", "ca", "it", "br")] == \
        ["es", "en", "es", "es", "en", "fr"]
    for code, lang in langs.items():
        assert lang["partner"] != code
        if local.get(code):
            assert lang["partner"] in local[code], code


def _said(speaker: Peer, listeners: list[Peer], text: str, lang: str) -> dict[str, str]:
    assert speaker.say(text, lang)["ok"]
    def this(m: dict[str, Any]) -> bool:
        return bool(m["originalText"] == text)
    return {p.user["language"]: p.wait_for("translated-message", this, timeout=40)[-1]["translatedText"]
            for p in listeners}


def test_typed_text_in_new_languages_reaches_listeners_translated(embedded: Service,
                                                                  peers: list[Peer]) -> None:
    """Galician, Italian and Romanian speakers; listeners reached directly and through pivots.
    The directions are not pre-loaded: APY loads each on first use."""
    gl, es, en, it, ro = room_with(embedded.url, peers, ("Xoán", "gl"), ("Bruno", "es"),
                                   ("Alice", "en"), ("Ilaria", "it"), ("Radu", "ro"))
    got = _said(gl, [es, en, it], "Bos días a todos.", "gl")
    assert got["es"] == "Buenos días a todos."
    assert "morning" in got["en"].lower() or "good" in got["en"].lower(), got
    assert got["it"].lower().startswith("buon"), got  # gl → es → it
    got = _said(it, [es, en], "Grazie mille, ci vediamo domani.", "it")
    assert "gracias" in got["es"].lower() and "mañana" in got["es"].lower(), got
    # it → es → en, marked poor, and it is: "Thank you One thousand, see us morning."
    assert "thank" in got["en"].lower(), got
    got = _said(ro, [es], "Mulțumesc foarte mult.", "ro")
    assert "gracias" in got["es"].lower(), got
    # Nothing translates into Romanian locally: Radu is told, not shown a fake translation.
    assert es.say("Hasta luego.", "es")["ok"]
    failed = ro.wait_for("translation-failed", lambda m: m["originalText"] == "Hasta luego.",
                         timeout=30)[-1]
    assert failed["targetLang"] == "ro" and "no installed engine supports" in failed["reason"], failed
    assert failed["originalText"] == "Hasta luego." and not ro.got("translated-message")


def test_rare_directions_load_on_first_use_and_unload_when_idle() -> None:
    """Each loaded direction holds ~240 MB in APY: only the pre-loaded ones stay, the rest are
    loaded when first asked for and unloaded after `idle_s` unused."""
    import time

    import httpx

    from engines.providers.local.apertium import ApertiumTranslator, ApyProcess
    apy = ApyProcess(preload="en-es", idle_s=1.0)
    t = ApertiumTranslator(apy)
    t.start()
    try:
        def running() -> set[str]:
            stats = httpx.get(apy.base_url + "/stats", timeout=5).json()["responseData"]
            return set(stats["runningPipes"])
        assert running() == {"eng-spa"}  # pre-loaded only
        assert t.translate("Bos días.", "gl", "es").text == "Buenos días."
        assert "glg-spa" in running()
        time.sleep(1.5)
        assert t.translate("Hello.", "en", "es").text  # APY sweeps idle pipes on each request
        assert "glg-spa" not in running()
        assert t.translate("Bos días.", "gl", "es").text == "Buenos días."  # loads again
    finally:
        t.close()
