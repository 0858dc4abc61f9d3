"""e2e: a room's history for reconnecting clients and transcript export (GET /api/rooms/<id>/messages)."""
from __future__ import annotations

import pytest
import requests

from tests.support import Peer, Service, room_with

pytestmark = pytest.mark.e2e


def test_members_read_the_rooms_finals_with_their_translation(embedded: Service, peers: list[Peer]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = ann.got("joined-room")[0]["roomId"]
    for text in ("Good morning.", "Thank you very much."):
        assert ann.say(text, "en")["ok"]
    bob.wait_for("translated-message", count=2)
    url = f"{embedded.url}/api/rooms/{room}/messages"
    got = requests.get(url, headers=bob.headers(), timeout=10).json()
    assert [m["originalText"] for m in got["messages"]] == ["Good morning.", "Thank you very much."]
    assert got["messages"][0]["translatedText"] == "Buenos días." and got["more"] is False
    assert all(m["speakerId"] == ann.id and m["speakerName"] == "Ann" and m["targetLang"] == "es"
               for m in got["messages"])
    live = {m["utteranceId"] for m in bob.got("translated-message")}
    assert {m["utteranceId"] for m in got["messages"]} == live
    mine = requests.get(url, headers=ann.headers(), timeout=10).json()["messages"]
    assert mine[0]["translatedText"] == "Good morning."  # her own language: the original
    first = got["messages"][0]["receivedAt"]
    after = requests.get(url, params={"since": first}, headers=bob.headers(), timeout=10).json()
    assert [m["originalText"] for m in after["messages"]] == ["Thank you very much."]
    page = requests.get(url, params={"limit": 1}, headers=bob.headers(), timeout=10).json()
    assert len(page["messages"]) == 1 and page["more"] is True


def test_history_is_for_members_only_and_checks_its_parameters(embedded: Service, peers: list[Peer]) -> None:
    ann, _ = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    room = ann.got("joined-room")[0]["roomId"]
    assert ann.say("Good morning.", "en")["ok"]
    url = f"{embedded.url}/api/rooms/{room}/messages"
    out = Peer(embedded.url, "Out", "en").connect()
    peers.append(out)
    r = requests.get(url, headers=out.headers(), timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_in_room"
    assert requests.get(url, timeout=10).status_code == 401
    for params in ({"since": "yesterday"}, {"limit": 0}, {"limit": 10_000}, {"since": -1}):
        r = requests.get(url, params=params, headers=ann.headers(), timeout=10)
        assert r.status_code == 400, params
    r = requests.get(f"{embedded.url}/api/rooms/{'x' * 40}/messages", headers=ann.headers(), timeout=10)
    assert r.status_code == 404


def test_history_holds_only_what_was_said_while_you_were_in_the_room(embedded: Service,
                                                                      peers: list[Peer]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    code, room = ann.got("joined-room")[0]["code"], ann.got("joined-room")[0]["roomId"]
    assert ann.say("Good morning.", "en")["ok"]  # before Cid came
    bob.wait_for("translated-message")
    cid = Peer(embedded.url, "Cid", "es").connect()
    peers.append(cid)
    cid.join(code)
    assert ann.say("Thank you very much.", "en")["ok"]  # while Cid is in
    cid.wait_for("translated-message")
    assert cid.call("leave-room")["ok"]
    assert ann.say("The weather is nice today.", "en")["ok"]  # after Cid left
    bob.wait_for("translated-message", count=3)
    url = f"{embedded.url}/api/rooms/{room}/messages"

    def said(p: Peer) -> list[str]:
        r = requests.get(url, headers=p.headers(), timeout=10)
        assert r.status_code == 200, r.text
        return [m["originalText"] for m in r.json()["messages"]]

    assert said(cid) == ["Thank you very much."]
    assert said(bob) == ["Good morning.", "Thank you very much.", "The weather is nice today."]
    cid.join(code)  # back: from now on again, the stretch in between stays out
    assert ann.say("See you tomorrow.", "en")["ok"]
    cid.wait_for("translated-message", count=2)
    assert said(cid) == ["Thank you very much.", "See you tomorrow."]
    assert cid.got("translated-message")[-1]["originalText"] == "See you tomorrow."
