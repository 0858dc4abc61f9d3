"""e2e: LiveKit voice sessions through Socket.IO, against a real livekit-server."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from livekit import api

from tests import support
from tests.support import Peer, Service, livekit_client, room_with

pytestmark = [pytest.mark.e2e]


@pytest.mark.livekit
def test_member_gets_a_token_for_exactly_their_room(embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = a.got("joined-room")[0]["roomId"]
    ack = a.call("start-voice-session", {"languageCode": "en"})
    assert ack == {"ok": True, "roomId": room, "listenOnly": False}
    ready = a.wait_for("voice-session-ready")[0]
    assert ready["roomId"] == room and ready["liveKitUrl"] == embedded.env["LIVEKIT_URL"]
    claims = api.TokenVerifier(embedded.env["LIVEKIT_API_KEY"],
                               embedded.env["LIVEKIT_API_SECRET"]).verify(ready["liveKitToken"])
    assert claims.identity == a.id and claims.name == "Ann"
    assert claims.attributes == {"language": "en", "sttEngine": "local"}
    assert claims.video.room == room and claims.video.room_join and not claims.video.room_admin
    assert claims.video.can_publish and claims.video.can_publish_sources == ["microphone"]
    assert b.wait_for("user-started-voice")[0] == {"userId": a.id, "language": "en", "listenOnly": False}
    # Someone who only listens gets a token that can subscribe and nothing more.
    ack = b.call("start-voice-session", {"listenOnly": True})
    assert ack == {"ok": True, "roomId": room, "listenOnly": True}
    heard = api.TokenVerifier(embedded.env["LIVEKIT_API_KEY"], embedded.env["LIVEKIT_API_SECRET"]).verify(
        b.wait_for("voice-session-ready")[0]["liveKitToken"])
    assert heard.video.can_subscribe and not heard.video.can_publish and not heard.video.can_publish_data
    assert a.wait_for("user-started-voice")[0]["listenOnly"] is True
    assert b.call("start-voice-session", {"listenOnly": "yes"})["error"]["code"] == "bad_type"
    lk = livekit_client.service(embedded.env)
    assert room in lk.list_rooms()
    assert a.call("stop-voice-session")["ok"]
    assert a.wait_for("voice-session-ended")[0] == {"roomId": room}
    assert b.wait_for("user-stopped-voice")[0] == {"userId": a.id}


@pytest.mark.livekit
def test_non_member_cannot_start_a_voice_session(embedded: Service, peers: list[Peer]) -> None:
    a, _ = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = a.got("joined-room")[0]["roomId"]
    out = Peer(embedded.url, "Out", "en").connect()
    peers.append(out)
    ack = out.call("start-voice-session", {"roomId": room})
    assert ack["ok"] is False and ack["error"]["code"] == "not_in_room"
    assert out.got("voice-session-ready") == []


def test_without_livekit_the_client_is_told_to_use_the_socket_audio_path(embedded: Service,
                                                                         peers: list[Peer]) -> None:
    a, _ = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    ack = a.call("start-voice-session", {})
    assert ack["error"]["code"] == "livekit_unavailable"
    assert "start-speech" in a.wait_for("speech-error")[0]


@pytest.mark.livekit
def test_webhook_keeps_voice_presence_and_refuses_forgeries(embedded: Service, peers: list[Peer]) -> None:
    import requests
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = a.got("joined-room")[0]["roomId"]
    url = embedded.url + "/livekit/webhook"
    body, token = livekit_client.signed_webhook(embedded.env, "participant_joined", room, a.id)
    assert requests.post(url, data=body, headers={"Authorization": token}, timeout=5).status_code == 200
    assert b.wait_for("voice-presence")[0] == {"roomId": room, "userId": a.id, "inVoice": True}
    tampered = body.replace(a.id, b.id)
    assert requests.post(url, data=tampered, headers={"Authorization": token}, timeout=5).status_code == 401
    agent_body, agent_token = livekit_client.signed_webhook(
        embedded.env, "participant_joined", room, "agent-1", kind=api.ParticipantInfo.Kind.AGENT)
    assert requests.post(url, data=agent_body, headers={"Authorization": agent_token},
                         timeout=5).status_code == 200
    left, left_token = livekit_client.signed_webhook(embedded.env, "participant_left", room, a.id)
    assert requests.post(url, data=left, headers={"Authorization": left_token}, timeout=5).status_code == 200
    presence = b.wait_for("voice-presence", count=2)
    assert presence[1] == {"roomId": room, "userId": a.id, "inVoice": False}
    assert all(p["userId"] != "agent-1" for p in b.got("voice-presence"))


@pytest.mark.livekit
def test_the_livekit_room_goes_when_the_app_room_empties(livekit_env: dict[str, str], tmp_path: Path,
                                                         log_dir: Path, peers: list[Peer]) -> None:
    from tests import support
    env = support.base_env(tmp_path, LIVEKIT_EMPTY_ROOM_GRACE_S="1", **livekit_env)
    support.migrate(env)
    web = support.start_web(env, log_dir)
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        a, b = room_with(web.url, peers, ("Ann", "en"), ("Bob", "es"))  # type: ignore[attr-defined]
        room = a.got("joined-room")[0]["roomId"]
        assert a.call("start-voice-session", {})["ok"]
        lk = livekit_client.service(env)
        assert room in lk.list_rooms()
        a.close()
        time.sleep(2)
        assert room in lk.list_rooms(), "deleted while Bob was still in the app room"
        b.close()
        support.wait_until(lambda: room not in lk.list_rooms(), 15, "the LiveKit room to be deleted")
    finally:
        web.stop()


@pytest.mark.livekit
def test_leaving_the_room_removes_you_from_the_voice_room_and_tokens_are_short_lived(
        embedded: Service, peers: list[Peer], lk_peers: list[Any]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = a.got("joined-room")[0]["roomId"]
    assert a.call("start-voice-session", {"languageCode": "en"})["ok"]
    ready = a.wait_for("voice-session-ready")[0]
    claims = jwt.decode(ready["liveKitToken"], options={"verify_signature": False})
    assert claims["exp"] - time.time() <= 600, "a LiveKit token should be for joining now"
    mic = livekit_client.LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
    lk_peers.append(mic)
    lk = livekit_client.service(embedded.env)

    def present() -> set[str]:
        return {p.identity for p in lk.participants(room)}

    support.wait_until(lambda: a.id in present(), 20, "Ann in the LiveKit room")
    assert a.call("leave-room")["ok"]
    assert a.wait_for("voice-session-ended")[0] == {"roomId": room}
    assert b.wait_for("user-stopped-voice")[0] == {"userId": a.id}
    support.wait_until(lambda: a.id not in present(), 20, "Ann removed from the LiveKit room")
    # Her token is still valid for minutes: she comes back with it, and LiveKit tells the app
    # (its webhook, signed as LiveKit signs it); the app shows her the door again.
    again = livekit_client.LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect()
    lk_peers.append(again)
    support.wait_until(lambda: a.id in present(), 20, "Ann back with the old token")
    body, token = livekit_client.signed_webhook(embedded.env, "participant_joined", room, a.id)
    assert requests.post(embedded.url + "/livekit/webhook", data=body,
                         headers={"Authorization": token}, timeout=5).status_code == 200
    support.wait_until(lambda: a.id not in present(), 20, "Ann removed again")
    assert [p for p in b.got("voice-presence") if p["userId"] == a.id and p["inVoice"]] == []
