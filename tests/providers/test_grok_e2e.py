"""e2e: the whole service with xAI configured against the local fake. Real recorded English goes
through the Socket.IO audio path (and LiveKit) to Grok STT; a Spanish listener gets Grok's
translation and Grok's voice; the fake dropping the stream mid-sentence costs nothing said; with
no key nothing tries to reach the provider; a spent budget stops audio going to it."""
from __future__ import annotations

import io
import json
import time
import wave

import pytest
import requests

from tests.support import Peer, Service, room_with
from tests.support.fake_xai import FakeXAI
from tests.support.livekit_client import LkParticipant, speaking_mic
from tests.support.service import OPERATOR
from tests.support.speech import clips, normalize, wer
from tests.support.utterances import one_utterance, said, wait_for_utterance

pytestmark = [pytest.mark.e2e, pytest.mark.speech]

SILENCE = b"\0" * 32000  # one second


def _prefs(p: Peer, **prefs: object) -> dict:
    r = requests.patch(p.base_url + "/api/me", json=prefs, headers=p.headers(), timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json()["preferences"])


def _speak(p: Peer, pcm: bytes, realtime: bool = True) -> None:
    assert p.call("start-speech", {"languageCode": "en"})["ok"]
    step = 32 * 40
    for i in range(0, len(pcm), step):
        p.sio.emit("speech-data", pcm[i:i + step])
        if realtime:
            time.sleep(0.04)
    assert p.call("stop-speech")["ok"]


def _grok_room(svc: Service, peers: list[Peer]) -> tuple[Peer, Peer, str]:
    ann, bob = room_with(svc.url, peers, ("Ann", "en"), ("Bob", "es"))
    _prefs(ann, sttEngine="grok")
    _prefs(bob, translationEngine="grok", ttsEnabled=True, ttsEngine="grok", voice="ara")
    room = ann.got("joined-room")[0]["roomId"]
    return ann, bob, room


def test_recorded_speech_is_heard_translated_and_voiced_by_grok(grok_service: Service, fake: FakeXAI,
                                                                 peers: list[Peer]) -> None:
    ann, bob, room = _grok_room(grok_service, peers)
    r = requests.put(f"{grok_service.url}/api/rooms/{room}/glossary", headers=ann.headers(),
                     json={"terms": ["LiveKit", "Grok Voice"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert bob.wait_for("glossary-updated")[0] == {"roomId": room, "terms": ["LiveKit", "Grok Voice"]}
    pcm, ref = clips()[0]
    fake.script = [ref]
    _speak(ann, SILENCE + pcm + SILENCE * 2)
    [final] = ann.wait_for("recognized-speech", timeout=30)
    assert final["text"] == ref
    # The documented handshake, and only speech on the wire.
    [turn] = fake.stt_turns
    assert turn["headers"]["Authorization"] == f"Bearer {fake.key}"
    assert turn["query"]["sample_rate"] == ["16000"] and turn["query"]["encoding"] == ["pcm"]
    assert turn["query"]["language"] == ["en"] and turn["query"]["keyterm"] == ["LiveKit", "Grok Voice"]
    assert turn["audio_bytes"] < len(pcm) + 32000
    interims = bob.got("interim-transcript")
    assert interims and all(i["speakerId"] == ann.id for i in interims)
    [msg] = bob.wait_for("translated-message", timeout=30)
    assert msg["translatedText"] == f"[es] {ref}" and msg["utteranceId"] == final["utteranceId"]
    [chat] = fake.chat_requests
    system, user = chat["body"]["messages"]
    assert json.loads(user["content"])["glossary"] == ["LiveKit", "Grok Voice"]
    assert "LiveKit" not in system["content"]  # the glossary is data, never instructions
    [audio] = bob.wait_for("tts-audio", timeout=30)
    wav = requests.get(grok_service.url + audio["url"], headers=bob.headers(), timeout=10)
    assert wav.status_code == 200
    with wave.open(io.BytesIO(wav.content)) as w:
        assert w.getframerate() == 24000 and w.getnframes() > 0
    assert fake.tts_requests[0]["body"]["voice_id"] == "ara"
    assert fake.tts_requests[0]["body"]["language"] == "es-ES"
    # Usage, per provider, room and user; in /metrics too.
    usage = requests.get(f"{grok_service.url}/api/rooms/{room}/usage", headers=bob.headers(),
                         timeout=10).json()
    grok = usage["totals"]["grok"]
    assert grok["audio_seconds"] == pytest.approx(turn["audio_bytes"] / 32000, abs=0.05)
    assert grok["tokens"] > 0 and grok["characters"] >= 2 * len(ref)
    by_user = {(u["userId"], u["provider"]): u for u in usage["byUser"]}
    assert by_user[(ann.id, "grok")]["audio_seconds"] > 0 and by_user[(bob.id, "grok")]["characters"] > 0
    metrics = requests.get(grok_service.url + "/metrics", timeout=10).text
    assert 'lt_premium_usage_today{provider="grok",unit="audio_seconds"}' in metrics
    health = grok_service.health()
    assert health["providers"]["grok"]["configured"] is True
    assert fake.key not in requests.get(grok_service.url + "/health", headers=OPERATOR,
                                        timeout=10).text
    # Speech asked for directly (POST /api/tts) on Grok is metered too.
    before = _metric(grok_service, "characters")
    spoken = requests.post(grok_service.url + "/api/tts", headers=bob.headers(), timeout=20,
                           json={"text": "Hasta luego.", "language": "es", "engine": "grok"})
    assert spoken.status_code == 200 and spoken.headers["X-TTS-Engine"].startswith("grok:")
    assert _metric(grok_service, "characters") == pytest.approx(before + len("Hasta luego."))
    # Voices offered come from the provider's list.
    voices = requests.get(grok_service.url + "/api/tts/voices", params={"engine": "grok", "language": "es"},
                          headers=bob.headers(), timeout=10).json()
    assert [v["id"] for v in voices["voices"]] == ["eve", "ara", "rex"]


def test_a_glossary_edit_reaches_a_running_speech_session(grok_service: Service, fake: FakeXAI,
                                                          peers: list[Peer]) -> None:
    ann, bob, room = _grok_room(grok_service, peers)
    (one, ref1), (two, ref2) = clips()[:2]
    fake.script = [ref1, ref2]
    assert ann.call("start-speech", {"languageCode": "en"})["ok"]
    pcm = SILENCE + one + SILENCE * 2
    for i in range(0, len(pcm), 32 * 40):
        ann.sio.emit("speech-data", pcm[i:i + 32 * 40])
    ann.wait_for("recognized-speech", timeout=30)
    r = requests.put(f"{grok_service.url}/api/rooms/{room}/glossary", headers=ann.headers(),
                     json={"terms": ["Grok"]}, timeout=10)
    assert r.status_code == 200
    time.sleep(0.5)
    pcm = two + SILENCE * 2
    for i in range(0, len(pcm), 32 * 40):
        ann.sio.emit("speech-data", pcm[i:i + 32 * 40])
    assert ann.call("stop-speech")["ok"]
    assert [f["text"] for f in ann.wait_for("recognized-speech", count=2, timeout=30)] == [ref1, ref2]
    assert "keyterm" not in fake.stt_turns[0]["query"]
    assert fake.stt_turns[1]["query"]["keyterm"] == ["Grok"]


def _metric(svc: Service, unit: str) -> float:
    text = requests.get(svc.url + "/metrics", timeout=10).text
    line = f'lt_premium_usage_today{{provider="grok",unit="{unit}"}} '
    return float(next(ln for ln in text.splitlines() if ln.startswith(line)).split()[-1])


def test_a_stream_dropped_mid_sentence_still_gives_one_complete_caption(
        grok_service: Service, fake: FakeXAI, peers: list[Peer]) -> None:
    ann, bob, _ = _grok_room(grok_service, peers)
    pcm, ref = clips()[0]
    fake.script = [ref]
    fake.drop_after_bytes = len(pcm) // 2
    _speak(ann, SILENCE + pcm + SILENCE * 2)
    notice = ann.wait_for("speech-notice", timeout=20)[0]
    assert notice["code"] == "stt_fallback" and notice["engine"] == "local" and notice["from"] == "grok"
    # The local engine takes the utterance over: one caption, perhaps in segments (the parts of
    # one utterance), reading as the whole sentence: nothing said before the drop is lost, and
    # nothing comes twice.
    wait_for_utterance(ann, ref, 0.15, timeout=40, event="recognized-speech")
    time.sleep(2)
    finals = one_utterance(ann.got("recognized-speech"))
    edits, words = wer(normalize(ref), normalize(said(finals)))
    assert edits / words <= 0.15, said(finals)
    bob.wait_for("translated-message", count=len(finals), timeout=30)
    time.sleep(2)
    msgs = one_utterance(bob.got("translated-message"))
    assert [m["utteranceId"] for m in msgs] == [f["utteranceId"] for f in finals]
    assert not bob.got("speech-notice"), "the notice is for the speaker only"


@pytest.mark.env(XAI_DAILY_AUDIO_MINUTES="0.02")  # 1.2 s of audio a day
def test_the_budget_cap_stops_sending_audio_to_the_provider(grok_service: Service, fake: FakeXAI,
                                                            peers: list[Peer]) -> None:
    ann, bob, _ = _grok_room(grok_service, peers)
    (one, ref1), (two, ref2) = clips()[:2]
    fake.script = [ref1, ref2]
    _speak(ann, SILENCE + one + SILENCE * 4 + two + SILENCE * 2)
    finals = ann.wait_for("recognized-speech", count=2, timeout=60)
    assert finals[0]["text"] == ref1  # Grok, within budget
    assert finals[1]["text"] != ref2 or len(fake.stt_turns) == 1  # the second is not Grok's
    assert len(fake.stt_turns) == 1, "audio went to the provider after the budget was spent"
    notice = ann.wait_for("speech-notice", timeout=10)[0]
    assert notice["code"] == "budget_reached" and "budget" in notice["message"]
    assert grok_service.health()["providers"]["grok"]["budget"]["audio_seconds"]["limit"] == 1.2


@pytest.mark.env(XAI_API_KEY="")
def test_without_a_key_grok_is_unavailable_and_never_contacted(grok_service: Service, fake: FakeXAI,
                                                               peers: list[Peer]) -> None:
    engines = requests.get(grok_service.url + "/api/engines", timeout=10).json()
    for kind in ("stt", "translation", "tts"):
        grok = next(c for c in engines[kind] if c["name"] == "grok")
        assert grok["available"] is False and "XAI_API_KEY" in grok["reason"]
        google = next(c for c in engines[kind] if c["name"] == "google")
        assert google["available"] is False and "GOOGLE_APPLICATION_CREDENTIALS" in google["reason"]
        assert engines["default"][kind] == "local"
    ann, bob = room_with(grok_service.url, peers, ("Ann", "en"), ("Bob", "es"))
    r = requests.patch(ann.base_url + "/api/me", json={"sttEngine": "grok"}, headers=ann.headers(),
                       timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "engine_unavailable"
    _prefs(bob, ttsEnabled=True)
    pcm, ref = clips()[0]
    _speak(ann, SILENCE + pcm + SILENCE, realtime=False)
    # Local recognition: the sentence as one utterance, perhaps in segments.
    wait_for_utterance(ann, ref, 2 / len(normalize(ref)), timeout=40, event="recognized-speech")
    time.sleep(2)
    finals = one_utterance(ann.got("recognized-speech"))
    assert wer(normalize(ref), normalize(said(finals)))[0] <= 2, said(finals)
    bob.wait_for("translated-message", timeout=30)
    bob.wait_for("tts-audio", timeout=30)
    health = grok_service.health()["providers"]
    assert health["grok"] == {"configured": False}
    assert health["google"] == {"configured": False, "reason": "no GOOGLE_APPLICATION_CREDENTIALS configured"}
    # Other tests' services (sharing this fake) may still be finishing with it, with their key;
    # this one has none, so anything it sent would be refused as unauthenticated.
    unauthenticated = [what for what, status in fake.refused if status == 401]
    assert unauthenticated == [], "something tried to reach xAI without a key"


@pytest.mark.livekit
def test_recorded_speech_over_livekit_is_heard_by_grok(grok_service: Service, fake: FakeXAI,
                                                       peers: list[Peer],
                                                       lk_peers: list[LkParticipant]) -> None:
    ann, bob, room = _grok_room(grok_service, peers)
    r = requests.put(f"{grok_service.url}/api/rooms/{room}/glossary", headers=ann.headers(),
                     json={"terms": ["LiveKit"]}, timeout=10)
    assert r.status_code == 200
    pcm, ref = clips()[0]
    fake.script = [ref]
    mic = speaking_mic(ann, "en", lk_peers)
    (pcm2, ref2) = clips()[1]
    fake.script = [ref, ref2]
    mic.play(SILENCE + pcm + SILENCE * 2)
    [msg] = bob.wait_for("translated-message", timeout=30)
    assert msg["originalText"] == ref and msg["translatedText"] == f"[es] {ref}"
    assert bob.got("interim-transcript")
    turn = fake.stt_turns[0]
    assert turn["headers"]["Authorization"] == f"Bearer {fake.key}"
    assert turn["query"]["sample_rate"] == ["16000"] and turn["query"]["keyterm"] == ["LiveKit"]
    assert turn["audio_bytes"] < len(pcm) + 32000  # the silence around it was not sent
    # The owner edits the glossary mid-session: the agent's next utterance carries the new terms.
    r = requests.put(f"{grok_service.url}/api/rooms/{room}/glossary", headers=ann.headers(),
                     json={"terms": ["LiveKit", "Grok"]}, timeout=10)
    assert r.status_code == 200
    time.sleep(2)
    mic.play(SILENCE + pcm2 + SILENCE * 2)
    second = bob.wait_for("translated-message", count=2, timeout=30)[1]
    assert second["originalText"] == ref2
    assert fake.stt_turns[-1]["query"]["keyterm"] == ["LiveKit", "Grok"]
