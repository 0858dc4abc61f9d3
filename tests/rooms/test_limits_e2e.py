"""e2e: rate limits and quotas (app/quotas.py) at their shipped amounts: a clear 429 or error
ack with when to try again, and nothing changed by a refused request."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import requests

from tests.support import Peer, Service, room_with

# Each test its own service: the limits count everything from this address.
pytestmark = [pytest.mark.e2e, pytest.mark.env(RATE_LIMIT_SCALE="1"), pytest.mark.own_service]


def _count(svc: Service, table: str) -> int:
    with sqlite3.connect(Path(svc.env["VAR_DIR"]) / "live-translator.db") as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_one_address_gets_twenty_guest_sessions_a_minute(embedded: Service) -> None:
    made = 0
    for i in range(40):  # sliding window counters: about twenty, never fewer
        r = requests.post(embedded.url + "/api/session", json={"displayName": f"P{i}", "language": "en"},
                          timeout=10)
        if r.status_code == 429:
            break
        assert r.status_code == 201, r.text
        made += 1
    assert 20 <= made < 40
    assert r.json()["error"]["code"] == "rate_limited"
    assert 0 < int(r.headers["Retry-After"]) <= 60 and r.json()["error"]["retryAfter"] > 0
    assert _count(embedded, "users") == made


def test_guessing_room_codes_is_cut_off_and_rooms_per_user_are_limited(embedded: Service,
                                                                       peers: list[Peer]) -> None:
    owner, guesser = room_with(embedded.url, peers, ("Ann", "en"), ("Gus", "es"))
    code = owner.got("joined-room")[0]["code"]
    guesses = 0
    for i in range(30):  # sliding window counters: about ten, never fewer (a guess that straddles
        ack = guesser.call("join-room", f"ZZZZZ{i}")  # a minute's turn is weighed, not counted)
        if ack["error"]["code"] == "rate_limited":
            break
        assert ack["error"]["code"] == "room_not_found", ack
        guesses += 1
    assert 10 <= guesses < 20, guesses
    ack = guesser.call("join-room", code)  # even the right code: guessing is spent for now
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited", ack
    assert ack["error"]["retryAfter"] > 0
    assert owner.call("join-room", code)["ok"]  # someone who did not guess is not affected
    made = 0
    for _ in range(25):
        r = requests.post(embedded.url + "/api/rooms", headers=owner.headers(), timeout=10)
        if r.status_code == 429:
            break
        assert r.status_code == 201, r.text
        made += 1
    assert 9 <= made < 20  # ten a minute (the room of room_with was the first)


def test_a_flood_of_messages_is_refused_past_five_a_second_and_stores_nothing(
        embedded: Service, peers: list[Peer]) -> None:
    ann, bob = room_with(embedded.url, peers, ("Ann", "en"), ("Bob", "es"))
    acks = [ann.say(f"Message {i}.", "en") for i in range(12)]
    refused = [a for a in acks if not a["ok"]]
    assert refused and all(a["error"]["code"] == "rate_limited" for a in refused)
    taken = sum(1 for a in acks if a["ok"])
    assert 5 <= taken < 12
    assert _count(embedded, "utterances") == taken
