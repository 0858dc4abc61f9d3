"""e2e: the whole service with Google Cloud (and xAI) configured against local fakes, every failover
order grok,google,local. Real recorded English through the Socket.IO audio path and LiveKit to
Google speech recognition, its streams rotated mid-speech; Google's translation (made by the
speech process for the embedded web process) and voice reaching a Spanish listener; Grok failing
→ Google serves, both failing → local serves, both back → Grok again, with nothing said lost or
delivered twice."""
from __future__ import annotations

import io
import json
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests

from tests import support
from tests.support import Peer, Service, room_with, when_quiet
from tests.support.fake_google import FakeGoogle
from tests.support.fake_xai import FakeXAI
from tests.support.livekit_client import LkParticipant, speaking_mic
from tests.support.speech import clips, normalize, wer
from tests.support.utterances import each_part_once_in_order, said, wait_for_utterance

pytestmark = [pytest.mark.e2e, pytest.mark.speech]

SILENCE = b"\0" * 32000  # one second
COOLDOWN_S = 3.0


@pytest.fixture(scope="module")
def google_service(fake_server: FakeXAI, google_server: FakeGoogle, livekit_env: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Service]:
    """One service for the module: xAI and Google against their fakes, Grok first, Google next,
    local last in every order; Google's speech streams rotated every 2 s of audio."""
    tmp = tmp_path_factory.mktemp("google-e2e")
    creds = tmp / "google-credentials.json"
    creds.write_text(json.dumps({"type": "service_account", "project_id": "lt-test"}))
    for pcm, ref in clips():
        google_server.register(pcm, ref)
    env = support.base_env(
        tmp, SPEECH_AUTOSTART="1", XAI_API_KEY=fake_server.key, XAI_BASE_URL=fake_server.base_url,
        XAI_STALL_S="1.5", GOOGLE_APPLICATION_CREDENTIALS=str(creds),
        GOOGLE_API_ENDPOINT=google_server.endpoint,
        GOOGLE_STALL_S="1.5", GOOGLE_STT_MAX_STREAM_S="2", ENGINE_COOLDOWN_S=str(COOLDOWN_S),
        STT_ENGINES="grok,google,local", TRANSLATION_ENGINES="grok,google,local",
        TTS_ENGINES="grok,google,local", **livekit_env)
    with support.embedded_service(env, log_dir) as svc:
        yield svc


def _prefs(p: Peer, **prefs: object) -> None:
    r = requests.patch(p.base_url + "/api/me", json=prefs, headers=p.headers(), timeout=10)
    assert r.status_code == 200, r.text


def _send(p: Peer, pcm: bytes) -> None:
    """Audio on the open speech session, at about real time."""
    for i in range(0, len(pcm), 32 * 40):
        p.sio.emit("speech-data", pcm[i:i + 32 * 40])
        time.sleep(0.035)


def _wav(svc: Service, p: Peer, audio: dict) -> wave.Wave_read:
    r = requests.get(svc.url + audio["url"], headers=p.headers(), timeout=10)
    assert r.status_code == 200
    assert r.content.count(b"RIFF") == 1  # one header, Google's taken apart
    return wave.open(io.BytesIO(r.content))


def test_speech_translation_and_voice_by_google(google_service: Service, fake: FakeXAI, gfake: FakeGoogle,
                                                peers: list[Peer]) -> None:
    gfake.translate = lambda text, target: f"<{target}> {text}"
    ann, bob = room_with(google_service.url, peers, ("Ann", "en"), ("Bob", "es"))
    _prefs(ann, sttEngine="google")
    _prefs(bob, translationEngine="google", ttsEnabled=True, ttsEngine="google", voice="es-ES-Neural2-B")
    room = ann.got("joined-room")[0]["roomId"]
    r = requests.put(f"{google_service.url}/api/rooms/{room}/glossary", headers=ann.headers(),
                     json={"terms": ["Dashwood"]}, timeout=10)
    assert r.status_code == 200
    bob.wait_for("glossary-updated")
    pcm, ref = clips()[0]  # 7 s: rotated three times mid-sentence
    assert ann.call("start-speech", {"languageCode": "en"})["ok"]
    _send(ann, SILENCE + pcm + SILENCE * 2)
    assert ann.call("stop-speech")["ok"]
    [final] = ann.wait_for("recognized-speech", timeout=30)
    assert final["text"] == ref  # every word once, across the rotations
    # Ann's streams (with her room's glossary: the fake is shared with what other tests started):
    # rotated, each old one cancelled, only the last half-closed. (In the order the fake's
    # handlers ran, which on a busy machine need not be the order the calls were made.)
    streams = [s for s in gfake.stt_streams if s["config"]["phrases"] == ["Dashwood"]]
    assert len(streams) >= 4, streams
    assert sorted(s["ended"] for s in streams) == ["cancelled"] * (len(streams) - 1) + ["half-close"], streams
    assert all(s["config"]["language_code"] == "en-US" for s in streams)
    assert bob.got("interim-transcript")
    [msg] = bob.wait_for("translated-message", timeout=30)
    assert msg["translatedText"] == "<es> " + ref.replace("dashwood", "Dashwood")
    [req] = gfake.translate_requests
    assert req["mime_type"] == "text/plain" and req["parent"] == "projects/lt-test/locations/global"
    assert "ashwood" not in req["contents"][0]  # the glossary term went as a placeholder
    [audio] = bob.wait_for("tts-audio", timeout=30)
    with _wav(google_service, bob, audio) as w:
        assert w.getframerate() == 24000 and w.getnframes() > 0
    assert [(t["language_code"], t["voice"]) for t in gfake.tts_requests] == [("es-ES", "es-ES-Neural2-B")]
    assert fake.requests == 0  # nobody asked Grok for what was asked of Google
    usage = requests.get(f"{google_service.url}/api/rooms/{room}/usage", headers=bob.headers(),
                         timeout=10).json()["totals"]["google"]
    assert usage["audio_seconds"] >= len(pcm) / 32000 and usage["characters"] >= 2 * len(ref)
    health = google_service.health()["providers"]["google"]
    assert health["configured"] is True and health["order"]["stt"] == ["grok", "google", "local"]
    voices = requests.get(google_service.url + "/api/tts/voices", headers=bob.headers(), timeout=10,
                          params={"engine": "google", "language": "es"}).json()["voices"]
    assert [v["id"] for v in voices] == ["es-ES-Neural2-A", "es-ES-Neural2-B"]


def test_grok_then_google_then_local_and_back_in_turn(google_service: Service, fake: FakeXAI,
                                                      gfake: FakeGoogle, peers: list[Peer]) -> None:
    gfake.translate = lambda text, target: f"<{target}> {text}"
    ann, bob = room_with(google_service.url, peers, ("Ann", "en"), ("Bob", "es"))
    _prefs(bob, ttsEnabled=True)  # Grok first for everything: the order's default
    (one, ref1), (two, ref2), (three, ref3), (four, ref4) = clips()[1:5]
    assert ann.call("start-speech", {"languageCode": "en"})["ok"]

    # Grok refuses everything: Google serves every kind.
    fake.refuse = 503
    _send(ann, SILENCE + one + SILENCE * 2)
    [first] = ann.wait_for("recognized-speech", timeout=30)
    assert first["text"] == ref1
    notice = ann.wait_for("speech-notice", timeout=10)[0]
    assert (notice["code"], notice["engine"], notice["from"]) == ("stt_fallback", "google", "grok")
    [msg] = bob.wait_for("translated-message", timeout=30)
    assert msg["translatedText"] == f"<es> {ref1}"
    bob.wait_for("tts-audio", timeout=30)
    assert len(gfake.tts_requests) == 1 and not fake.tts_requests

    # Google fails too: the embedded engines serve.
    gfake.fail.update(stt=grpc.StatusCode.UNAVAILABLE, translate=grpc.StatusCode.UNAVAILABLE,
                      tts=grpc.StatusCode.UNAVAILABLE)
    _send(ann, two + SILENCE * 2)
    # Local recognition commits the sentence in segments, perhaps: the parts of one utterance.
    key = wait_for_utterance(ann, ref2, 2 / len(normalize(ref2)), timeout=40,
                             event="recognized-speech")[0]["utteranceKey"]
    second = when_quiet(lambda: [f for f in ann.got("recognized-speech") if f["utteranceKey"] == key],
                        quiet_s=2.0)
    assert wer(normalize(ref2), normalize(said(second)))[0] <= 2, said(second)
    notices = ann.wait_for("speech-notice", lambda n: n["engine"] == "local", timeout=10)
    assert notices[-1]["code"] == "stt_fallback"
    msgs = bob.wait_for("translated-message", lambda m: m["utteranceKey"] == key, count=len(second),
                        timeout=30)
    assert sorted(m["utteranceId"] for m in msgs) == sorted(f["utteranceId"] for f in second)
    assert not any(m["translatedText"].startswith(("<es>", "[es]")) for m in msgs)  # Apertium's Spanish
    bob.wait_for("tts-audio", count=1 + len(second), timeout=30)
    assert len(gfake.tts_requests) == 1 and not fake.tts_requests
    heard = {first["utteranceKey"], key}

    # Google comes back, Grok does not: after the cool-down Google serves again.
    told = len(ann.got("speech-notice"))
    gfake.reset()
    gfake.translate = lambda text, target: f"<{target}> {text}"
    time.sleep(COOLDOWN_S + 0.5)
    _send(ann, three + SILENCE * 2)
    [third] = ann.wait_for("recognized-speech", lambda f: f["utteranceKey"] not in heard, timeout=30)
    assert third["text"] == ref3
    back = [n for n in ann.got("speech-notice")[told:] if n["engine"] == "google"]
    assert back and back[-1]["code"] in ("stt_restored", "stt_fallback")  # via a Grok that refused
    [msg] = bob.wait_for("translated-message", lambda m: m["utteranceKey"] == third["utteranceKey"],
                         timeout=30)
    assert msg["translatedText"] == f"<es> {ref3}"
    bob.wait_for("tts-audio", count=2 + len(second), timeout=30)
    heard.add(third["utteranceKey"])
    assert len(gfake.tts_requests) == 1 and not fake.tts_requests

    # Grok comes back too: it serves again, and the speaker is told.
    fake.reset()
    gfake.reset()
    fake.script = [ref4]
    time.sleep(COOLDOWN_S + 0.5)
    _send(ann, four + SILENCE * 2)
    assert ann.call("stop-speech")["ok"]
    [fourth] = ann.wait_for("recognized-speech", lambda f: f["utteranceKey"] not in heard, timeout=30)
    assert fourth["text"] == ref4
    restored = ann.wait_for("speech-notice", lambda n: (n["code"], n["engine"]) == ("stt_restored", "grok"),
                            timeout=10)
    assert restored[-1]["from"] == "google"
    [msg] = bob.wait_for("translated-message", lambda m: m["utteranceKey"] == fourth["utteranceKey"],
                         timeout=30)
    assert msg["translatedText"] == f"[es] {ref4}"
    bob.wait_for("tts-audio", count=3 + len(second), timeout=30)
    assert len(fake.tts_requests) == 1 and not gfake.tts_requests
    assert len(fake.stt_turns) == 1 and not gfake.stt_streams

    # Nothing lost, nothing twice: four utterances (one in segments, perhaps), each part heard
    # and delivered once, in order.
    time.sleep(1)
    finals = ann.got("recognized-speech")
    utterances = each_part_once_in_order(finals)
    assert list(utterances) == [first["utteranceKey"], key, third["utteranceKey"], fourth["utteranceKey"]]
    assert [len(parts) for parts in utterances.values()] == [1, len(second), 1, 1]
    assert len({f["utteranceId"] for f in finals}) == len(finals)
    assert [m["utteranceId"] for m in bob.got("translated-message")] == [f["utteranceId"] for f in finals]
    assert not bob.live_duplicates()


@pytest.mark.livekit
def test_speech_over_livekit_is_heard_by_google(google_service: Service, gfake: FakeGoogle,
                                                peers: list[Peer], lk_peers: list[LkParticipant]) -> None:
    gfake.translate = lambda text, target: f"<{target}> {text}"
    ann, bob = room_with(google_service.url, peers, ("Ann", "en"), ("Bob", "es"))
    _prefs(ann, sttEngine="google")
    _prefs(bob, translationEngine="google")
    pcm, ref = clips()[2]
    gfake.script = [ref]  # what the codec made of the recording is no registered clip
    mic = speaking_mic(ann, "en", lk_peers)
    mic.play(SILENCE + pcm + SILENCE * 2)
    [msg] = bob.wait_for("translated-message", timeout=30)
    assert msg["originalText"] == ref and msg["translatedText"] == f"<es> {ref}"
    assert gfake.stt_streams and gfake.stt_streams[0]["config"]["language_code"] == "en-US"
    assert all(s["config"]["sample_rate_hertz"] == 16000 for s in gfake.stt_streams)
    assert bob.got("interim-transcript")
