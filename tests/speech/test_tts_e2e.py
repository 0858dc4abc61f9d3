"""e2e: POST /api/tts through the running service; synthesis happens in the speech process."""
from __future__ import annotations

import io
import wave

import pytest
import requests

from tests.support import Peer, Service

pytestmark = [pytest.mark.e2e, pytest.mark.speech]


def _tts(svc: Service, peer: Peer | None, body: object) -> requests.Response:
    headers = peer.headers() if peer else {}
    return requests.post(svc.url + "/api/tts", json=body, headers=headers, timeout=30)


def _duration_ms(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() * 1000 / w.getframerate()


def test_tts_returns_decodable_audio_in_the_users_engine(embedded: Service) -> None:
    p = Peer(embedded.url, "Ann", "en")
    r = _tts(embedded, p, {"text": "Good morning, everyone.", "language": "en"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
    assert r.headers["X-TTS-Engine"] == "local:piper:joe"
    duration = _duration_ms(r.content)
    assert duration > 500 and abs(duration - float(r.headers["X-Duration-Ms"])) < 1
    es = _tts(embedded, p, {"text": "Buenos días a todos.", "language": "es"})
    assert es.status_code == 200 and es.headers["X-TTS-Engine"].startswith("local:espeak:")
    assert 500 < _duration_ms(es.content) < 10000
    assert requests.patch(embedded.url + "/api/me", json={"ttsEngine": "espeak"},
                          headers=p.headers()).status_code == 200
    mine = _tts(embedded, p, {"text": "Good morning, everyone.", "language": "en"})
    assert mine.status_code == 200 and mine.headers["X-TTS-Engine"] == "espeak:en"


def test_tts_refuses_bad_requests_clearly(embedded: Service) -> None:
    p = Peer(embedded.url, "Ann", "en")
    assert _tts(embedded, None, {"text": "hi", "language": "en"}).status_code == 401
    big = _tts(embedded, p, {"text": "word " * 200, "language": "en"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_long"
    for body, code in (({"text": "  ", "language": "en"}, "empty_field"),
                       ({"text": "hi", "language": "xx"}, "unsupported_language"),
                       ({"text": "hi", "language": "en", "engine": "babelfish"}, "unknown_engine"),
                       ({"text": "hi", "language": "en", "engine": "grok"}, "engine_unavailable"),
                       ({"text": "hi", "language": "en", "speed": 2}, "unknown_field"),
                       ({"language": "en"}, "missing_field")):
        r = _tts(embedded, p, body)
        assert r.status_code == 400 and r.json()["error"]["code"] == code, (body, r.text)


@pytest.mark.env(RATE_LIMIT_SCALE="1")
def test_tts_is_rate_limited_per_user(embedded: Service) -> None:
    p, q = Peer(embedded.url, "Ann", "en"), Peer(embedded.url, "Bob", "en")
    codes = [_tts(embedded, p, {"text": "Hello.", "language": "en"}).status_code for _ in range(40)]
    assert codes[:20] == [200] * 20 and 429 in codes  # twenty a minute (a sliding window)
    limited = _tts(embedded, p, {"text": "Hello.", "language": "en"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert _tts(embedded, q, {"text": "Hello.", "language": "en"}).status_code == 200


def test_tts_audio_reaches_only_listeners_with_tts_on_made_once_per_language(
        embedded: Service, peers: list[Peer]) -> None:
    from pathlib import Path

    from tests.support import room_with
    a, es_on, es_on2, es_off, fr_on = room_with(
        embedded.url, peers, ("Ann", "en"), ("Eva", "es"), ("Eli", "es"), ("Ema", "es"), ("Flo", "fr"))
    # Eli's voice is one no engine offers (free text): the default voice, not a file of its own.
    for p, extra in ((es_on, {}), (es_on2, {"voice": "no such voice"}), (fr_on, {})):
        assert requests.patch(embedded.url + "/api/me", json={"ttsEnabled": True, **extra},
                              headers=p.headers()).status_code == 200
    a.say("Good morning.", "en")
    got = {p.user["displayName"]: p.wait_for("tts-audio", timeout=30)[0] for p in (es_on, es_on2, fr_on)}
    path = {k: m["url"].split("?")[0] for k, m in got.items()}
    assert path["Eva"] == path["Eli"] != path["Flo"]
    assert got["Eva"]["url"] != got["Eli"]["url"]  # each listener's own ticket
    assert got["Eva"]["language"] == "es" and got["Flo"]["language"] == "fr"
    msg = es_on.got("translated-message")[0]
    assert got["Eva"]["messageId"] == msg["id"]
    audio = requests.get(embedded.url + got["Eva"]["url"], timeout=10)
    assert audio.status_code == 200 and abs(_duration_ms(audio.content) - got["Eva"]["durationMs"]) < 1
    assert "private" in audio.headers["Cache-Control"]
    assert len(list((Path(embedded.env["VAR_DIR"]) / "tts").glob("*.wav"))) == 2  # es once, fr once
    assert es_off.got("tts-audio") == [] and a.got("tts-audio") == []
    # Served only with the ticket its message carried: not by name, not with another file's.
    flo_ticket = got["Flo"]["url"].split("?t=")[1]
    for url in (path["Eva"], f"{path['Eva']}?t={flo_ticket}", f"{path['Eva']}?t=forged",
                "/api/tts/audio/" + "0" * 64 + ".wav"):
        assert requests.get(embedded.url + url, timeout=10).status_code == 404, url
