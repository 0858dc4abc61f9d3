"""e2e: the agent → app transcript bridge (HMAC over the raw body, timestamp window, replay and
idempotency), against the embedded service."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from app.bridge import sign
from tests.support import Peer, Service, room_with

pytestmark = pytest.mark.e2e


def _post(svc: Service, payload: dict | bytes, *, secret: str | None = None,  # type: ignore[type-arg]
          ts: float | None = None) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    stamp = str(int(ts if ts is not None else time.time()))
    key = secret if secret is not None else (Path(svc.env["VAR_DIR"]) / "bridge.key").read_text().strip()
    headers = {"X-LT-Timestamp": stamp, "X-LT-Signature": sign(key, stamp, body),
               "Content-Type": "application/json"}
    return requests.post(svc.url + "/internal/transcripts", data=body, headers=headers, timeout=10)


def _final(a: Peer, room: str, key: str, text: str = "Good morning.") -> dict:  # type: ignore[type-arg]
    return {"kind": "final", "idempotencyKey": key, "speakerId": a.id, "roomId": room, "text": text,
            "sourceLang": "en", "speechEndAt": time.time() * 1000}


def test_signed_transcript_is_translated_once_even_if_retried(embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = a.got("joined-room")[0]["roomId"]
    first = _post(embedded, _final(a, room, "utt-1"))
    assert first.status_code == 202 and first.json()["duplicate"] is False
    assert b.wait_for("translated-message")[0]["translatedText"] == "Buenos días."
    time.sleep(1.1)  # a new second, so the agent's retry is signed anew
    again = _post(embedded, _final(a, room, "utt-1"))
    assert again.status_code == 202 and again.json() == {"utteranceId": first.json()["utteranceId"],
                                                        "duplicate": True}
    time.sleep(1.0)
    assert len(b.got("translated-message")) == 1 and len(a.got("recognized-speech")) == 1


def test_forged_stale_and_replayed_posts_are_rejected_and_emit_nothing(embedded: Service,
                                                                       peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = a.got("joined-room")[0]["roomId"]
    forged = _post(embedded, _final(a, room, "f-1"), secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_signature"
    stale = _post(embedded, _final(a, room, "s-1"), ts=time.time() - 120)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "stale"
    body = json.dumps(_final(a, room, "r-1")).encode()
    stamp = str(int(time.time()))
    key = (Path(embedded.env["VAR_DIR"]) / "bridge.key").read_text().strip()
    headers = {"X-LT-Timestamp": stamp, "X-LT-Signature": sign(key, stamp, body)}
    url = embedded.url + "/internal/transcripts"
    assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 202
    replay = requests.post(url, data=body, headers=headers, timeout=10)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "replayed"
    tampered = requests.post(url, data=body.replace(b"Good", b"Evil"), headers=headers, timeout=10)
    assert tampered.status_code == 401
    assert len(b.wait_for("translated-message")) == 1
    time.sleep(1.0)
    assert len(b.got("translated-message")) == 1


def test_bridge_checks_the_body_and_membership(embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = a.got("joined-room")[0]["roomId"]
    outsider = Peer(embedded.url, "Out", "en")
    cases = [(b"not json", 400, "bad_json"),
             ({**_final(a, room, "x"), "sourceLang": "xx"}, 400, "unsupported_language"),
             ({**_final(a, room, "x"), "extra": 1}, 400, "unknown_field"),
             ({**_final(outsider, room, "x")}, 403, "not_in_room")]
    for payload, status, code in cases:
        r = _post(embedded, payload)
        assert r.status_code == status and r.json()["error"]["code"] == code, (payload, r.text)
    interim = _post(embedded, {"kind": "interim", "speakerId": a.id, "roomId": room, "text": "Good mor",
                               "sourceLang": "en", "utteranceKey": "k1"})
    assert interim.status_code == 202
    assert b.wait_for("interim-transcript")[0] == {"speakerId": a.id, "text": "Good mor",
                                                   "sourceLang": "en", "utteranceKey": "k1"}
    time.sleep(0.5)
    assert b.got("translated-message") == []
