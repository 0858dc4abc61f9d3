"""e2e: text mode through the whole service, embedded and distributed, with real Socket.IO clients."""
from __future__ import annotations

import time

import pytest
import requests

from tests.support import Peer, Service

pytestmark = pytest.mark.e2e


def _room(svc: Service, peers: list[Peer]) -> tuple[Peer, Peer, Peer, Peer, Peer]:
    """en, es, fr and a second English listener in one room; an outsider in another."""
    en = Peer(svc.url, "Alice", "en").connect()
    es = Peer(svc.url, "Bruno", "es").connect()
    fr = Peer(svc.url, "Chloé", "fr").connect()
    en2 = Peer(svc.url, "Dan", "en").connect()
    out = Peer(svc.url, "Olga", "es").connect()
    peers += [en, es, fr, en2, out]
    code = en.create_room()
    for p in (en, es, fr, en2):
        p.join(code)
    out.join(out.create_room())
    return en, es, fr, en2, out


def _english_utterance_reaches_everyone_in_their_language(svc: Service, peers: list[Peer]) -> None:
    en, es, fr, en2, out = _room(svc, peers)
    ack = en.say("The weather is nice today.", "en")
    assert ack["ok"], ack
    rec = en.wait_for("recognized-speech")[0]
    assert rec["text"] == "The weather is nice today." and rec["speakerName"] == "Alice"
    m_es = es.wait_for("translated-message")[0]
    m_fr = fr.wait_for("translated-message")[0]
    assert m_es["translatedText"] == "El tiempo es bueno hoy."
    assert m_es["originalText"] == "The weather is nice today."
    assert (m_es["sourceLang"], m_es["targetLang"], m_es["toUserId"]) == ("en", "es", es.id)
    assert m_fr["targetLang"] == "fr" and "temps" in m_fr["translatedText"]
    assert m_fr["fromUserId"] == en.id and m_fr["speakerName"] == "Alice"
    assert m_es["utteranceId"] == rec["id"] == m_fr["utteranceId"]
    m_en = en2.wait_for("translated-message")[0]
    assert m_en["translatedText"] == m_en["originalText"] == "The weather is nice today."
    assert m_en["targetLang"] == "en" and m_en["timings"]["translationMs"] == 0
    for m in (m_es, m_fr):
        t = m["timings"]
        assert t["received"] <= t["enqueued"] <= t["started"] <= t["translated"] <= t["emitted"]
    time.sleep(1.0)  # anything stray would arrive by now
    assert out.got("translated-message") == [] and out.got("recognized-speech") == []
    assert out.got("user-joined") == []
    assert en.got("translated-message") == []  # the speaker is not sent their own words
    assert len(es.got("translated-message")) == 1 and len(fr.got("translated-message")) == 1


def test_embedded_room_gets_translations_and_outsider_nothing(embedded: Service, peers: list[Peer]) -> None:
    _english_utterance_reaches_everyone_in_their_language(embedded, peers)


def test_distributed_room_gets_translations_and_outsider_nothing(distributed: Service,
                                                                 peers: list[Peer]) -> None:
    health = distributed.health()
    assert health["mode"] == "distributed" and health["redis"] == "ok"
    assert health["workers"] and health["engines"]["translation"]["local"]["running"]
    _english_utterance_reaches_everyone_in_their_language(distributed, peers)
    # The worker observed the fan-out; the web process reports it (shared through Redis).
    metrics = requests.get(distributed.url + "/metrics", timeout=5).text
    assert "lt_fanout_latency_seconds_count 1.0" in metrics
    assert 'lt_messages_total{kind="room"} 3.0' in metrics


def test_page_and_its_script_are_served_by_the_app(embedded: Service) -> None:
    page = requests.get(embedded.url + "/", timeout=5)
    assert page.status_code == 200 and "<title>Live Translator</title>" in page.text
    csp = page.headers["Content-Security-Policy"]  # no framing by other sites, no foreign scripts
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    for asset in ("/static/vendor/app.bundle.js", "/static/style.css", "/static/pcm-chunker.js"):
        got = requests.get(embedded.url + asset, timeout=5)
        assert got.status_code == 200 and "Content-Security-Policy" in got.headers, asset
