"""e2e: the LiveKit media plane with the real agent. A participant made with the LiveKit Python SDK
publishes recorded speech as a microphone track; the agent (inside the service's speech process)
transcribes it and posts to the signed bridge; Socket.IO listeners receive the translation."""
from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path

import pytest
import requests
from livekit import api

from tests.support import Peer, Service, room_with
from tests.support.livekit_client import LkParticipant, kill_agent_mid_utterance, service, speech_pid
from tests.support.speech import clips, normalize, wer

pytestmark = [pytest.mark.e2e, pytest.mark.speech, pytest.mark.livekit]

SILENCE = b"\0" * 32000  # one second


def _voice(svc: Service, peer: Peer, lk_peers: list[LkParticipant], lang: str = "en") -> LkParticipant:
    """Start a voice session for `peer` and join LiveKit with the token it got."""
    assert peer.call("start-voice-session", {"languageCode": lang})["ok"]
    ready = peer.wait_for("voice-session-ready")[-1]
    p = LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
    lk_peers.append(p)
    return p


def _wer(ref: str, hyp: str) -> float:
    edits, words = wer(normalize(ref), normalize(hyp))
    return edits / words


def test_published_english_speech_reaches_a_spanish_listener(embedded: Service, peers: list[Peer],
                                                            lk_peers: list[LkParticipant]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = ann.got("joined-room")[0]["roomId"]
    mic = _voice(embedded, ann, lk_peers)
    assert mic.name == room
    mic.publish()
    mic.wait_for_agent()
    pcm, ref = clips()[0]
    mic.play(SILENCE + pcm + SILENCE)
    msg = bob.wait_for("translated-message", timeout=30)[0]
    assert msg["fromUserId"] == ann.id and msg["sourceLang"] == "en" and msg["targetLang"] == "es"
    assert _wer(ref, msg["originalText"]) <= 0.1, msg["originalText"]
    assert msg["translatedText"] and msg["translatedText"] != msg["originalText"]
    assert msg["timings"]["speechEnd"] is not None
    assert bob.got("interim-transcript"), "no interim reached the room while Ann spoke"
    assert ann.wait_for("recognized-speech")[0]["utteranceId"] == msg["utteranceId"]
    live = embedded.health()["livekit"]
    assert live["voiceRooms"] == 1 and live["agentLastSeenS"] is not None and live["agentLastSeenS"] < 5


def test_two_publishers_at_once_are_both_attributed(embedded: Service, peers: list[Peer],
                                                   lk_peers: list[LkParticipant]) -> None:
    ann, cat, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Cat", "en"), ("Bob", "es"))
    mics = [_voice(embedded, ann, lk_peers), _voice(embedded, cat, lk_peers)]
    for m in mics:
        m.publish()
    mics[0].wait_for_agent()
    data = clips()
    import threading
    threads = [threading.Thread(target=m.play, args=(SILENCE + pcm + SILENCE,))
               for m, (pcm, _) in zip(mics, data, strict=False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = bob.wait_for("translated-message", count=2, timeout=40)
    by_speaker = {m["fromUserId"]: m["originalText"] for m in got}
    assert set(by_speaker) == {ann.id, cat.id}
    # Each speaker's text is their own sentence (allowing for codec and recognition slips), and
    # clearly not the other's.
    for who, own, other in ((ann.id, data[0][1], data[1][1]), (cat.id, data[1][1], data[0][1])):
        assert _wer(own, by_speaker[who]) <= 0.3 < 0.7 <= _wer(other, by_speaker[who]), by_speaker
    time.sleep(1)
    assert len(bob.got("translated-message")) == 2


def _jwt_with(token: str, **video: object) -> str:
    """The same token with claims changed but the old signature: a forgery."""
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["video"].update(video)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def test_a_room_a_token_cannot_join_room_b(embedded: Service, peers: list[Peer],
                                           lk_peers: list[LkParticipant]) -> None:
    ann, _ = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    zed, _ = room_with(embedded.url, peers, ("Zed", "en"), ("Yan", "es"))
    room_a = ann.got("joined-room")[0]["roomId"]
    room_b = zed.got("joined-room")[0]["roomId"]
    _voice(embedded, zed, lk_peers)  # room B exists in LiveKit
    assert ann.call("start-voice-session", {"roomId": room_b})["error"]["code"] == "not_in_room"
    in_a = _voice(embedded, ann, lk_peers)
    assert in_a.name == room_a  # the token decides the room: there is no way to ask for another
    ready = ann.got("voice-session-ready")[-1]
    forged = LkParticipant(ready["liveKitUrl"], _jwt_with(ready["liveKitToken"], room=room_b))
    lk_peers.append(forged)
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its ConnectError
        forged.connect()
    env = embedded.env
    verifier = api.TokenVerifier(env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"])
    with pytest.raises(Exception):  # noqa: B017
        verifier.verify(_jwt_with(ready["liveKitToken"], room=room_b))
    lk = service(env)
    assert ann.id not in {p.identity for p in lk.participants(room_b)}
    assert ann.id in {p.identity for p in lk.participants(room_a)}


def _token(env: dict[str, str], room: str, identity: str, kind: str = "") -> str:
    t = (api.AccessToken(env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]).with_identity(identity)
         .with_attributes({"language": "en"})
         .with_grants(api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)))
    if kind:
        t = t.with_kind(kind)  # type: ignore[arg-type]
    return t.to_jwt()


def test_agent_and_tts_tracks_are_never_transcribed(embedded: Service, peers: list[Peer],
                                                    lk_peers: list[LkParticipant]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = ann.got("joined-room")[0]["roomId"]
    mic = _voice(embedded, ann, lk_peers)
    mic.publish("microphone")
    mic.publish("tts-es")  # what a speaking agent would publish, here from a human
    mic.wait_for_agent()
    bot = LkParticipant(embedded.env["LIVEKIT_URL"], _token(embedded.env, room, ann.id + "-bot", "agent"))
    lk_peers.append(bot.connect())
    bot.publish("microphone")
    data = clips()
    import threading
    loud = [threading.Thread(target=bot.play, args=(SILENCE + data[1][0] + SILENCE,)),
            threading.Thread(target=mic.play, args=(SILENCE + data[2][0] + SILENCE, "tts-es"))]
    for t in loud:
        t.start()
    for t in loud:
        t.join()
    mic.play(data[0][0] + SILENCE)  # the real microphone, after: proves the agent was listening
    got = bob.wait_for("translated-message", timeout=30)
    time.sleep(2)
    got = bob.got("translated-message")
    assert len(got) == 1 and _wer(data[0][1], got[0]["originalText"]) <= 0.15, got
    assert all(i["speakerId"] == ann.id for i in bob.got("interim-transcript"))


def test_killed_agent_is_redispatched_and_later_speech_is_transcribed(
        embedded: Service, peers: list[Peer], lk_peers: list[LkParticipant]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    mic = _voice(embedded, ann, lk_peers)
    mic.publish()
    first_agent = mic.wait_for_agent()
    data = clips()
    mic.play(SILENCE + data[0][0] + SILENCE)
    bob.wait_for("translated-message", timeout=30)
    web_pid = embedded.procs[0].popen.pid
    pid = kill_agent_mid_utterance(web_pid, mic, data[1][0], first_agent)
    assert speech_pid(web_pid) != pid
    mic.play(SILENCE + data[2][0] + SILENCE)
    got = bob.wait_for("translated-message", lambda m: _wer(data[2][1], m["originalText"]) <= 0.15,
                       timeout=40)
    assert len(got) == 1
    time.sleep(1)
    firsts = [m for m in bob.got("translated-message") if _wer(data[0][1], m["originalText"]) <= 0.15]
    assert len(firsts) == 1, "the utterance before the crash was delivered twice"


def test_the_agent_follows_a_speakers_language_change(embedded: Service, peers: list[Peer],
                                                      lk_peers: list[LkParticipant], tmp_path: Path) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "fr"))
    mic = _voice(embedded, ann, lk_peers)
    mic.publish()
    mic.wait_for_agent()
    r = requests.patch(embedded.url + "/api/me", json={"language": "es"}, headers=ann.headers(), timeout=10)
    assert r.status_code == 200
    lk = service(embedded.env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # LiveKit propagates the attribute to the agent
        if any(p.identity == ann.id and p.attributes.get("language") == "es"
               for p in lk.participants(mic.name)):
            break
        time.sleep(0.2)
    wav = tmp_path / "es.wav"
    subprocess.run(["espeak-ng", "-v", "es", "-s", "130", "-w", str(wav),
                    "Buenos días, hoy hace buen tiempo."], check=True)
    import wave

    import numpy as np
    import soxr
    with wave.open(str(wav)) as w:
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        pcm = soxr.resample(raw, w.getframerate(), 16000).astype(np.int16).tobytes()
    time.sleep(1)
    mic.play(SILENCE + pcm + SILENCE)
    msg = bob.wait_for("translated-message", timeout=30)[0]
    assert msg["sourceLang"] == "es" and {"buenos", "días"} <= set(normalize(msg["originalText"]))
