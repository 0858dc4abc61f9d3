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
    # The utterance's next segment (same key, part 1) is a message of its own, and once only.
    nxt = {**_final(a, room, "utt-1", "Thank you."), "utteranceKey": "utt-1", "part": 1}
    second = _post(embedded, nxt)
    assert second.status_code == 202 and second.json()["duplicate"] is False
    assert second.json()["utteranceId"] != first.json()["utteranceId"]
    b.wait_for("translated-message", count=2)
    time.sleep(1.1)
    assert _post(embedded, nxt).json() == {"utteranceId": second.json()["utteranceId"], "duplicate": True}
    time.sleep(1.0)
    got = b.got("translated-message")
    assert [(m["utteranceKey"], m["part"], m["originalText"]) for m in got] == [
        ("utt-1", 0, "Good morning."), ("utt-1", 1, "Thank you.")]
    said = [(f["utteranceKey"], f["part"]) for f in a.got("recognized-speech")]
    assert said == [("utt-1", 0), ("utt-1", 1)]


def test_the_agents_bridge_client_keeps_finals_through_app_and_agent_restarts(
        tmp_path: Path, log_dir: Path, peers: list[Peer]) -> None:
    """A final decoded while the app is down is kept in the agent's outbox, survives the agent
    dying too, and is delivered exactly once when both are back."""
    from agent.bridge_client import BridgeClient
    from tests import support
    env = support.base_env(tmp_path / "var")
    support.migrate(env)
    port = support.free_port()
    web = support.start_web(env, log_dir, port)
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        ann, bob = room_with(web.url, peers, ("Ann", "en"), ("Bob", "es"))
        room, code = ann.got("joined-room")[0]["roomId"], ann.got("joined-room")[0]["code"]
        spoke_at = time.time() * 1000
        web.stop()  # the app restarts (a deploy) just as Ann finishes a sentence
    finally:
        web.stop()
    secret = (tmp_path / "var" / "bridge.key").read_text().strip()
    outbox = tmp_path / "outbox"
    payload = {"kind": "final", "idempotencyKey": "lk:utt-1", "speakerId": ann.id, "roomId": room,
               "text": "Good morning.", "sourceLang": "en", "speechEndAt": spoke_at}
    first = BridgeClient(f"http://127.0.0.1:{port}", secret, outbox, agent_id="a1", rooms=list,
                         max_backoff_s=0.5)
    first.start()
    first.final(payload)
    support.wait_until(lambda: first.sent["retries"] >= 2, 10, "the agent to retry")
    first.close()  # and the agent dies before the app is back
    assert len(list(outbox.glob("*.json"))) == 1
    web = support.start_web(env, log_dir, port)
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        bob2 = bob.again().connect()
        peers.append(bob2)
        bob2.join(code)  # Bob's browser reconnects; Ann has not come back (yet)
        second = BridgeClient(f"http://127.0.0.1:{port}", secret, outbox, agent_id="a2", rooms=list)
        second.start()  # the restarted agent sends what the first one left
        msg = bob2.wait_for("translated-message", timeout=20)[0]
        assert msg["translatedText"] == "Buenos días." and msg["fromUserId"] == ann.id
        support.wait_until(lambda: not list(outbox.glob("*.json")), 10, "the outbox to empty")
        second.final(payload)  # a late retry of the same final: accepted, nothing new shown
        support.wait_until(lambda: second.sent["final"] >= 2, 10, "the retry to be taken")
        time.sleep(0.5)
        assert len(bob2.got("translated-message")) == 1
        second.close()
    finally:
        web.stop()


@pytest.mark.livekit
def test_agent_heartbeats_must_be_signed_and_well_formed(embedded: Service) -> None:
    """A forged or malformed heartbeat could stop the app re-dispatching a dead agent: refused."""
    def beat(body: object, secret: str | None = None) -> requests.Response:
        raw = json.dumps(body).encode()
        stamp = str(int(time.time()))
        key = secret or (Path(embedded.env["VAR_DIR"]) / "bridge.key").read_text().strip()
        return requests.post(embedded.url + "/internal/agent-heartbeat", data=raw, timeout=10,
                             headers={"X-LT-Timestamp": stamp, "X-LT-Signature": sign(key, stamp, raw)})

    assert embedded.health()["livekit"]["agentLastSeenS"] is None
    forged = beat({"agentId": "x", "rooms": ["r1"]}, secret="guess")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_signature"
    for bad in ({"agentId": "x", "rooms": "r1"}, {"agentId": "x", "rooms": [1]},
                {"agentId": "x", "rooms": [], "extra": 1}, {"rooms": []}, ["x"]):
        r = beat(bad)
        assert r.status_code == 400, (bad, r.text)
    assert embedded.health()["livekit"]["agentLastSeenS"] is None
    assert beat({"agentId": "x", "rooms": ["r1"]}).status_code == 200
    assert embedded.health()["livekit"]["agentLastSeenS"] is not None
