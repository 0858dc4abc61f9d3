"""e2e: accounts, rooms, presence, solo mode and errors, against the embedded service."""
from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

import pytest
import requests
import socketio
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.auth import SALT
from tests.support import Peer, Service, room_with, wait_until

pytestmark = pytest.mark.e2e

TABLES = ("users", "rooms", "participants", "utterances", "translations", "deliveries")


def _counts(svc: Service) -> dict[str, int]:
    db = Path(svc.env["VAR_DIR"]) / "live-translator.db"
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def _refused(url: str, auth: object) -> str:
    """Connect, expect a refusal, and return the reason the server gave."""
    sio = socketio.Client(reconnection=False)
    reasons: list[object] = []
    sio.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)
    assert not sio.connected
    return str(reasons)


def test_connection_without_valid_token_is_refused(embedded: Service) -> None:
    assert "token" in _refused(embedded.url, None)
    assert "not valid" in _refused(embedded.url, {"token": "forged.token.value"})
    p = Peer(embedded.url, "Eve", "en")
    other_secret = URLSafeTimedSerializer("another-secret", salt=SALT).dumps({"uid": p.id})
    assert "not valid" in _refused(embedded.url, {"token": other_secret})


def test_expired_token_is_refused(embedded: Service) -> None:
    p = Peer(embedded.url, "Old", "en")

    class TwoDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 86400

    expired = URLSafeTimedSerializer(embedded.env["SECRET_KEY"], salt=SALT,
                                     signer=TwoDaysAgo).dumps({"uid": p.id})
    assert "expired" in _refused(embedded.url, {"token": expired})
    r = requests.get(embedded.url + "/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"


def test_unknown_room_code_is_an_error_and_changes_nothing(embedded: Service, peers: list[Peer]) -> None:
    p = Peer(embedded.url, "Ann", "en").connect()
    peers.append(p)
    before = _counts(embedded)
    ack = p.call("join-room", "ZZZZZZ")
    assert ack == {"ok": False, "error": {"code": "room_not_found",
                                          "message": "no open room has the code ZZZZZZ"}}
    assert p.wait_for("app-error")[0]["code"] == "room_not_found"
    assert _counts(embedded) == before


def test_speaking_without_joining_is_refused_and_stores_nothing(embedded: Service,
                                                                peers: list[Peer]) -> None:
    p = Peer(embedded.url, "Ann", "en").connect()
    peers.append(p)
    before = _counts(embedded)
    ack = p.say("Hello there.", "en")
    assert not ack["ok"] and ack["error"]["code"] == "not_in_room"
    assert "join a room" in p.wait_for("speech-error")[0]
    assert _counts(embedded) == before and p.got("recognized-speech") == []


def test_presence_join_and_leave_are_announced_to_the_room(embedded: Service, peers: list[Peer]) -> None:
    a = Peer(embedded.url, "Ann", "en").connect()
    b = Peer(embedded.url, "Bob", "es").connect()
    c = Peer(embedded.url, "Cid", "fr").connect()
    peers += [a, b, c]
    code = a.create_room()
    a.join(code)
    b.join(code.lower())  # codes are case-insensitive
    joined = b.got("joined-room")[0]
    assert joined["code"] == code and joined["you"]["userId"] == b.id
    assert [(x["userId"], x["language"]) for x in joined["participants"]] == [(a.id, "en"), (b.id, "es")]
    assert a.wait_for("user-joined")[0] == {"userId": b.id, "displayName": "Bob", "language": "es"}
    c.join(code)
    assert b.call("leave-room")["ok"]
    assert a.wait_for("user-left")[0] == {"userId": b.id}
    c.close()
    assert a.wait_for("user-left", count=2)[1] == {"userId": c.id}
    before = _counts(embedded)
    a.say("Anyone left?", "en")
    time.sleep(1.0)
    assert b.got("translated-message") == [] and c.got("translated-message") == []
    assert _counts(embedded)["deliveries"] == before["deliveries"]


def test_solo_mode_translates_for_the_speaker_only(embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "en"))
    ack = a.say("Good morning.", "en", soloMode=True, soloTargetLang="es")
    assert ack["ok"]
    solo = a.wait_for("solo-translated")[0]
    assert solo["translatedText"] == "Buenos días." and solo["targetLang"] == "es"
    assert solo["originalText"] == "Good morning." and solo["speakerName"] == "Ann"
    time.sleep(0.5)
    assert b.got("translated-message") == [] and b.got("solo-translated") == []


def test_solo_mode_works_without_a_room(embedded: Service, peers: list[Peer]) -> None:
    a = Peer(embedded.url, "Ann", "es").connect()
    peers.append(a)
    assert a.say("Buenos días.", "es", soloMode=True, soloTargetLang="en")["ok"]
    assert a.wait_for("solo-translated")[0]["translatedText"] == "Good morning."


def test_unsupported_pair_tells_the_speaker_and_the_listener(embedded: Service, peers: list[Peer]) -> None:
    a, d = room_with(embedded.url, peers, ("Ann", "en"), ("Dieter", "de"))
    a.say("Hello.", "en")
    assert "en → de" in a.wait_for("speech-error")[0]
    failed = d.wait_for("translation-failed")[0]
    assert failed["originalText"] == "Hello." and failed["targetLang"] == "de"
    assert d.got("translated-message") == []


def test_same_client_id_twice_yields_one_message(embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    before = _counts(embedded)
    first = a.say("Good morning.", "en", clientId="c-1")
    second = a.say("Good morning.", "en", clientId="c-1")
    assert first["utteranceId"] == second["utteranceId"] and second["duplicate"] is True
    b.wait_for("translated-message")
    time.sleep(1.0)
    assert len(b.got("translated-message")) == 1 and len(a.got("recognized-speech")) == 1
    assert _counts(embedded)["utterances"] == before["utterances"] + 1


def test_language_change_applies_to_the_next_utterance(embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    r = requests.patch(embedded.url + "/api/me", json={"language": "ca", "ttsEnabled": True},
                       headers=b.headers())
    assert r.status_code == 200 and r.json()["preferences"]["ttsEnabled"] is True
    a.say("Good morning.", "en")
    msg = b.wait_for("translated-message")[0]
    assert msg["targetLang"] == "ca" and msg["translatedText"] == "Bon dia."


def _log_once_it_has(svc: Service, line: str) -> str:
    """The web process's log, once it has `line` (written on the server's own time)."""
    def read() -> str:
        text = svc.procs[0].log.read_text()
        return text if line in text else ""
    return str(wait_until(read, 10, f"{line!r} in the log"))


def test_client_error_is_accepted_and_logged_without_its_text(embedded: Service, peers: list[Peer]) -> None:
    a = Peer(embedded.url, "Ann", "en").connect()
    peers.append(a)
    secret = "my private sentence about my bank account"
    ack = a.call("client-error", {"code": "mic_denied", "message": secret, "details": {"where": secret}})
    assert ack == {"ok": True}
    bad = a.call("client-error", {"code": 5, "message": "x"})
    assert bad["ok"] is False and bad["error"]["code"] == "bad_type"
    log = _log_once_it_has(embedded, "mic_denied")
    assert secret not in log


def test_transcripts_never_reach_the_server_log(embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    a.say("Secret plans for the weather tomorrow.", "en")
    translated = b.wait_for("translated-message")[0]["translatedText"]
    log = _log_once_it_has(embedded, "transcript accepted")
    assert "Secret plans" not in log and translated not in log


@pytest.mark.own_service
def test_health_and_metrics_report_engines_and_counts(embedded: Service, peers: list[Peer]) -> None:
    anonymous = requests.get(embedded.url + "/health", timeout=5)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}  # nothing more
    h = embedded.health()  # the operator's token
    assert h["status"] == "ok" and h["mode"] == "embedded" and h["database"] == "ok"
    local = h["engines"]["translation"]["local"]
    assert local["running"] and {"en", "es", "fr"} <= set(local["languages"])
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "fr"))
    a.say("Good morning.", "en")
    b.wait_for("translated-message")
    text = requests.get(embedded.url + "/metrics").text
    assert 'lt_utterances_total{kind="text"} 1.0' in text
    assert 'lt_translations_total{kind="local"} 1.0' in text
    assert "lt_connected_clients 2.0" in text
    assert "lt_fanout_latency_seconds_count 1.0" in text


@pytest.mark.own_service
def test_translation_is_made_once_per_language_however_many_listen(embedded: Service,
                                                                   peers: list[Peer]) -> None:
    a = Peer(embedded.url, "Ann", "en").connect()
    listeners = [Peer(embedded.url, f"Es{i}", "es").connect() for i in range(3)]
    fr = Peer(embedded.url, "Fay", "fr").connect()
    peers += [a, *listeners, fr]
    code = a.create_room()
    for p in (a, *listeners, fr):
        p.join(code)
    a.say("Good morning.", "en")
    for p in listeners:
        m = p.wait_for("translated-message")[0]
        assert m["translatedText"] == "Buenos días." and m["toUserId"] == p.id
    fr.wait_for("translated-message")
    db = Path(embedded.env["VAR_DIR"]) / "live-translator.db"
    with sqlite3.connect(db) as conn:
        made = conn.execute("SELECT target_lang, COUNT(*) FROM translations GROUP BY target_lang").fetchall()
    assert sorted(made) == [("es", 1), ("fr", 1)]
    assert 'lt_translations_total{kind="local"} 2.0' in requests.get(embedded.url + "/metrics").text


def test_solo_target_language_can_come_from_preferences(embedded: Service, peers: list[Peer]) -> None:
    a = Peer(embedded.url, "Ann", "en").connect()
    peers.append(a)
    ack = a.say("Good morning.", "en", soloMode=True)
    assert ack["ok"] is False and ack["error"]["code"] == "missing_field"
    r = requests.patch(embedded.url + "/api/me", json={"soloTargetLang": "ca"}, headers=a.headers())
    assert r.status_code == 200
    assert a.say("Good morning.", "en", soloMode=True)["ok"]
    solo = a.wait_for("solo-translated")[0]
    assert solo["targetLang"] == "ca" and solo["translatedText"] == "Bon dia."


def test_everything_the_service_writes_is_private_from_creation(embedded: Service,
                                                                peers: list[Peer]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    assert ann.say("Good morning.", "en")["ok"]
    bob.wait_for("translated-message")
    var = Path(embedded.env["VAR_DIR"])
    found = {p.name: stat.S_IMODE(p.stat().st_mode) for p in var.rglob("*")
             if not p.is_symlink() and (p.is_file() or p.is_dir())}
    assert "live-translator.db" in found and "bridge.key" in found, sorted(found)
    assert {name: oct(mode) for name, mode in found.items() if mode & 0o077} == {}
