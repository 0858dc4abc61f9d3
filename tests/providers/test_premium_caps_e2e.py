"""e2e, the embedded service with xAI configured against its fake: a speaker past their daily
premium cap is recognised by the local engine and told why, while another speaker in the room
still gets Grok; a listener past theirs gets the local translation."""
from __future__ import annotations

import time

import pytest
import requests

from tests.support import Peer, Service, room_with, wait_until
from tests.support.fake_xai import FakeXAI
from tests.support.speech import clips

pytestmark = [pytest.mark.e2e, pytest.mark.speech]
SILENCE = b"\0" * 32000


def _prefs(p: Peer, **prefs: object) -> None:
    r = requests.patch(p.base_url + "/api/me", json=prefs, headers=p.headers(), timeout=10)
    assert r.status_code == 200, r.text


def _speak(p: Peer, pcm: bytes) -> None:
    assert p.call("start-speech", {"languageCode": "en"})["ok"]
    for i in range(0, len(pcm), 32 * 40):
        p.sio.emit("speech-data", pcm[i:i + 32 * 40])
    assert p.call("stop-speech")["ok"]


@pytest.mark.env(PREMIUM_FOR_USERS="auto", PREMIUM_USER_DAILY_AUDIO_MINUTES="0.02",
                 PREMIUM_USER_DAILY_CHARACTERS="30")
def test_past_their_cap_a_person_gets_the_local_engine_and_others_keep_grok(
        grok_service: Service, fake: FakeXAI, peers: list[Peer]) -> None:
    ann, bob, cat = room_with(grok_service.url, peers, ("Ann", "en"), ("Bob", "es"), ("Cat", "en"))
    for p in (ann, cat):
        _prefs(p, sttEngine="grok")  # offered: the caps bound the spend ("auto")
    _prefs(bob, translationEngine="grok")
    (one, ref1), (two, _) = clips()[:2]
    fake.script = [ref1]
    _speak(ann, SILENCE + one + SILENCE * 2)  # ~7 s on Grok: past Ann's 1.2 s of the day
    first = bob.wait_for("translated-message", timeout=60)[0]
    assert first["translatedText"].startswith("[es] ")  # the fake's translation: Grok's
    assert len(fake.stt_turns) == 1
    room = ann.got("joined-room")[0]["roomId"]

    def spent(p: Peer, unit: str) -> float:
        got = requests.get(f"{grok_service.url}/api/rooms/{room}/usage", headers=p.headers(),
                           timeout=10).json()["byUser"]
        return sum(u[unit] for u in got if u["userId"] == p.id)
    wait_until(lambda: spent(ann, "audio_seconds") > 1.2 and spent(bob, "characters") >= 30, 20,
               "Ann's recognition and Bob's translation to be metered")
    time.sleep(2.5)  # what each person spent is read at most every 2 s (core.premium)
    # Bob's share of that translation (its characters) is past his 30: his next one is local.
    _speak(ann, SILENCE + two + SILENCE * 2)
    notice = ann.wait_for("speech-notice", lambda m: m["code"] == "user_cap", timeout=30)[0]
    assert notice["engine"] == "local" and notice["from"] == "grok"
    second = bob.wait_for("translated-message", count=2, timeout=90)[1]
    assert len(fake.stt_turns) == 1  # Ann's second sentence never reached Grok
    assert not second["translatedText"].startswith("[es] ")  # Apertium's
    told = bob.wait_for("speech-notice", lambda m: m["code"] == "user_cap", timeout=10)
    assert told[0]["kind"] == "translation" and "xAI Grok" in told[0]["message"]
    # Cat has spent nothing: Grok hears her.
    fake.script = [ref1]
    _speak(cat, SILENCE + one + SILENCE * 2)
    bob.wait_for("translated-message", count=3, timeout=60)
    assert len(fake.stt_turns) == 2
    assert not cat.got("speech-notice")
