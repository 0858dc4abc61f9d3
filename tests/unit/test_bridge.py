"""unit: the transcript bridge's signature (core.signing) and the app's checks of it
(app.bridge), in an in-process app: only a fresh, correctly signed, never-seen request is taken."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from core.signing import sign
from tests.unit.inprocess import App, received

pytestmark = pytest.mark.unit

SECRET = "bridge-unit"  # the fixture app's BRIDGE_SECRET


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Known answer, computed with `openssl dgst -sha256 -hmac secret` over '1700000000.{"a":1}'.
    assert sign("secret", "1700000000", b'{"a":1}') == \
        "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
    assert sign("secret", "1700000001", b'{"a":1}') != sign("secret", "1700000000", b'{"a":1}')


def _post(app: App, body: dict[str, Any] | bytes, *, secret: str = SECRET, ts: str | None = None,
          signature: str | None = None, path: str = "/internal/transcripts") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = str(int(time.time())) if ts is None else ts
    return app.flask.test_client().post(path, data=raw, content_type="application/json", headers={
        "X-LT-Timestamp": ts, "X-LT-Signature": signature or sign(secret, ts, raw)})


def _final(speaker: str, key: str = "k1") -> dict[str, Any]:
    return {"kind": "final", "idempotencyKey": key, "speakerId": speaker, "text": "Hello",
            "sourceLang": "en", "soloTargetLang": "es"}


def test_a_signed_final_is_taken_once_and_a_resigned_retry_is_a_duplicate(app: App) -> None:
    ann = app.sign_up("Ann", "en")
    a = app.connect(ann)
    r = _post(app, _final(ann), ts=str(int(time.time())))
    assert r.status_code == 202 and r.get_json()["duplicate"] is False
    again = _post(app, _final(ann), ts=str(int(time.time()) - 1))  # signed anew: a retry
    assert again.status_code == 202 and again.get_json() == {
        "utteranceId": r.get_json()["utteranceId"], "duplicate": True}
    assert len(received(a, "recognized-speech")) == 1


@pytest.mark.parametrize("case, status, code", [
    ("wrong_secret", 401, "bad_signature"),
    ("tampered_body", 401, "bad_signature"),
    ("stale", 401, "stale"),
    ("future", 401, "stale"),
    ("not_a_time", 401, "bad_timestamp"),
    ("nan", 401, "bad_timestamp"),  # signed with the right secret: NaN compared as "fresh"
    ("-inf", 401, "bad_timestamp"),
    ("non_ascii_signature", 401, "bad_signature"),
    ("too_large", 413, "too_large"),
])
def test_a_forged_or_stale_post_is_refused_and_changes_nothing(app: App, case: str, status: int,
                                                               code: str) -> None:
    ann = app.sign_up("Ann", "en")
    a = app.connect(ann)
    body = json.dumps(_final(ann)).encode()
    ts = str(int(time.time()))
    kw: dict[str, Any] = {}
    if case == "wrong_secret":
        kw["secret"] = SECRET + "x"
    elif case == "tampered_body":
        kw["signature"] = sign(SECRET, ts, body)
        body = body.replace(b"Hello", b"Hallo")
    elif case in ("stale", "future"):
        kw["ts"] = str(int(time.time()) + (-120 if case == "stale" else 120))
    elif case == "non_ascii_signature":
        kw["signature"] = "é" * 64
    elif case in ("not_a_time", "nan", "-inf"):
        kw["ts"] = "yesterday" if case == "not_a_time" else case
    else:
        body = json.dumps(dict(_final(ann), text="x" * 20_000)).encode()
    r = _post(app, body, **kw)
    assert (r.status_code, r.get_json()["error"]["code"]) == (status, code)
    assert not received(a, "recognized-speech")


def test_the_very_same_signed_request_twice_is_a_replay(app: App) -> None:
    ann = app.sign_up("Ann", "en")
    raw = json.dumps({"kind": "interim", "speakerId": ann, "text": "Hel", "sourceLang": "en",
                      "utteranceKey": "u1"}).encode()
    ts = str(int(time.time()))
    first = _post(app, raw, ts=ts)
    assert first.status_code == 202
    replay = _post(app, raw, ts=ts)
    assert (replay.status_code, replay.get_json()["error"]["code"]) == (409, "replayed")


def test_an_interim_for_a_room_the_speaker_is_not_in_is_refused(app: App) -> None:
    ann, bob = app.sign_up("Ann", "en"), app.sign_up("Bob", "es")
    code = app.room(bob)
    b = app.connect(bob)
    room = b.emit("join-room", code, callback=True)["roomId"]
    b.get_received()
    r = _post(app, {"kind": "interim", "speakerId": ann, "roomId": room, "text": "Hel",
                    "sourceLang": "en", "utteranceKey": "u1"})
    assert (r.status_code, r.get_json()["error"]["code"]) == (403, "not_in_room")
    assert not received(b, "interim-transcript")


def _in_a_room(app: App) -> tuple[str, str, str, Any, Any]:
    """Ann (en) and Bob (es) in one room: their ids, the room's id, their sockets (read empty)."""
    ann, bob = app.sign_up("Ann", "en"), app.sign_up("Bob", "es")
    code = app.room(ann)
    a, b = app.connect(ann), app.connect(bob)
    room = a.emit("join-room", code, callback=True)["roomId"]
    b.emit("join-room", code, callback=True)
    a.get_received()
    b.get_received()
    return ann, bob, room, a, b


def test_a_notice_reaches_the_speaker_only_and_an_unknown_code_is_refused(app: App) -> None:
    ann, _, room, a, b = _in_a_room(app)
    notice = {"kind": "notice", "speakerId": ann, "roomId": room, "text": "stt_fallback",
              "sourceLang": "en", "engine": "local", "previous": "grok"}
    assert _post(app, notice).status_code == 202
    [got] = received(a, "speech-notice")
    assert (got["code"], got["engine"], got["from"]) == ("stt_fallback", "local", "grok")
    assert "xAI Grok" in got["message"] and "Local" in got["message"]
    assert not received(b, "speech-notice")
    r = _post(app, dict(notice, text="you_are_hacked"))
    assert (r.status_code, r.get_json()["error"]["code"]) == (400, "bad_notice")
    assert not received(a, "speech-notice")


@pytest.mark.parametrize("change, status, code", [
    ("not json", 400, "bad_json"),
    ({"sourceLang": "xx"}, 400, "unsupported_language"),
    ({"extra": 1}, 400, "unknown_field"),
    ({"speakerId": "outsider"}, 403, "not_in_room"),
])
def test_a_final_the_bridge_cannot_take_is_refused_with_its_code_and_shows_nothing(
        app: App, change: str | dict[str, Any], status: int, code: str) -> None:
    ann, _, room, a, b = _in_a_room(app)
    outsider = app.sign_up("Out", "en")
    final = dict(_final(ann), roomId=room)
    if isinstance(change, dict):
        final.update({k: outsider if v == "outsider" else v for k, v in change.items()})
    r = _post(app, change.encode() if isinstance(change, str) else final)
    assert (r.status_code, r.get_json()["error"]["code"]) == (status, code)
    assert not received(a, "recognized-speech") and not received(b, "translated-message")


def test_an_interim_reaches_the_room_as_sent_and_makes_no_caption(app: App) -> None:
    ann, _, room, _, b = _in_a_room(app)
    r = _post(app, {"kind": "interim", "speakerId": ann, "roomId": room, "text": "Good mor",
                    "sourceLang": "en", "utteranceKey": "k1"})
    assert r.status_code == 202
    got = b.get_received()
    assert [e["args"][0] for e in got if e["name"] == "interim-transcript"] == [
        {"speakerId": ann, "text": "Good mor", "sourceLang": "en", "utteranceKey": "k1", "part": 0}]
    assert not [e for e in got if e["name"] == "translated-message"]
