"""e2e: translated interims and segments with a premium translation engine (xAI Grok against its
fake), driven through the agent's signed bridge (no speech model): interims cost nothing unless
the operator allows it (PREMIUM_INTERIM_TRANSLATION), and a segment is translated with the
utterance's earlier segments as context."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from tests.support import Peer, Service, room_with, when_quiet
from tests.support.fake_xai import FakeXAI

pytestmark = pytest.mark.e2e


def _room(svc: Service, peers: list[Peer]) -> tuple[Peer, Peer, str]:
    ann, bea = room_with(svc.url, peers, ("Ann", "en"), ("Bea", "es"))
    r = requests.patch(svc.url + "/api/me", json={"translationEngine": "grok"}, headers=bea.headers(),
                       timeout=10)
    assert r.status_code == 200, r.text
    return ann, bea, ann.got("joined-room")[0]["roomId"]


def _say(svc: Service, ann: Peer, room: str, kind: str, text: str, part: int, **extra: Any) -> None:
    svc.transcript({"kind": kind, "speakerId": ann.id, "roomId": room, "text": text,
                    "sourceLang": "en", "utteranceKey": "lk-utt-1", "part": part, **extra})


def test_interims_for_a_premium_listener_come_from_the_local_engine_by_default(
        grok_service: Service, fake: FakeXAI, peers: list[Peer]) -> None:
    ann, bea, room = _room(grok_service, peers)
    _say(grok_service, ann, room, "interim", "Good morning", 0)
    live = bea.wait_for("interim-translation", timeout=20)[0]
    assert live["text"] == "Buenos días" and live["part"] == 0 and live["targetLang"] == "es"
    assert fake.chat_requests == []  # nothing billed for an interim
    _say(grok_service, ann, room, "final", "Good morning everyone,", 0,
         idempotencyKey="lk-utt-1", speechEndAt=time.time() * 1000)
    caption = bea.wait_for("translated-message", timeout=20)[0]
    assert caption["translatedText"] == "[es] Good morning everyone," and caption["part"] == 0
    assert len(fake.chat_requests) == 1  # the segment itself: the listener's engine


@pytest.mark.env(PREMIUM_INTERIM_TRANSLATION="1")
def test_premium_interims_when_allowed_are_metered_and_segments_carry_the_earlier_ones(
        grok_service: Service, fake: FakeXAI, peers: list[Peer]) -> None:
    ann, bea, room = _room(grok_service, peers)
    _say(grok_service, ann, room, "interim", "Good morning", 0)
    live = bea.wait_for("interim-translation", timeout=20)[0]
    assert live["text"] == "[es] Good morning" and len(fake.chat_requests) == 1
    _say(grok_service, ann, room, "final", "Good morning everyone,", 0,
         idempotencyKey="lk-utt-1", speechEndAt=time.time() * 1000)
    _say(grok_service, ann, room, "final", "the meeting starts now.", 1,
         idempotencyKey="lk-utt-1", speechEndAt=time.time() * 1000)
    captions = when_quiet(lambda: bea.got("translated-message"), quiet_s=2.0)
    assert [(m["part"], m["translatedText"]) for m in captions] == [
        (0, "[es] Good morning everyone,"), (1, "[es] the meeting starts now.")]
    system, user = fake.chat_requests[-1]["body"]["messages"]
    assert json.loads(user["content"]) == {"context": ["Good morning everyone,"],
                                           "text": "the meeting starts now."}
    assert "Good morning everyone," not in system["content"]  # data, never instructions
    usage = requests.get(f"{grok_service.url}/api/rooms/{room}/usage", headers=bea.headers(),
                         timeout=10).json()
    assert "grok" in str(usage) and len(fake.chat_requests) == 3  # the interim was billed too
