"""e2e, distributed, two web processes and a speech process of their own: a glossary edited on
one web process reaches a speech session the other one holds, from its next utterance (the fake
xAI sees the term as a `keyterm` of the next turn)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import support
from tests.support import Peer, room_with, wait_until
from tests.support.fake_xai import FakeXAI
from tests.support.speech import clips

pytestmark = [pytest.mark.e2e, pytest.mark.speech]
SILENCE = b"\0" * 32000


@pytest.fixture
def two_webs(fake: FakeXAI, tmp_path: Path, log_dir: Path, redis_url: str) -> Iterator[tuple[Any, Any]]:
    with support.two_web_processes(tmp_path, log_dir, redis_url, speech=True,
                                   XAI_API_KEY=fake.key, XAI_BASE_URL=fake.base_url,
                                   STT_ENGINES="grok,local", TRANSLATION_ENGINES="local") as webs:
        yield webs


def _speak(p: Peer, pcm: bytes) -> None:
    for i in range(0, len(pcm), 32 * 40):
        p.sio.emit("speech-data", pcm[i:i + 32 * 40])


def test_a_glossary_edit_on_one_web_process_reaches_a_speaker_on_another(
        two_webs: tuple[Any, Any], fake: FakeXAI, peers: list[Peer]) -> None:
    web1, web2 = two_webs
    ann, _ = room_with(web2.url, peers, ("Ann", "en"), ("Bob", "es"))  # type: ignore[attr-defined]
    room = ann.got("joined-room")[0]["roomId"]
    requests.patch(web2.url + "/api/me", json={"sttEngine": "grok"}, headers=ann.headers(),
                   timeout=10).raise_for_status()
    (one, ref1), (two, ref2) = clips()[:2]
    fake.script = [ref1, ref2]
    wait_until(lambda: ann.call("start-speech", {"languageCode": "en"})["ok"], 60,
               "the speech process to take a session")
    _speak(ann, SILENCE + one + SILENCE * 2)
    ann.wait_for("recognized-speech", timeout=30)
    r = requests.put(f"{web1.url}/api/rooms/{room}/glossary", headers=ann.headers(),
                     json={"terms": ["Grok"]}, timeout=10)
    assert r.status_code == 200, r.text
    time.sleep(1.0)
    _speak(ann, two + SILENCE * 2)
    assert ann.call("stop-speech")["ok"]
    assert [f["text"] for f in ann.wait_for("recognized-speech", count=2, timeout=30)] == [ref1, ref2]
    assert "keyterm" not in fake.stt_turns[0]["query"]
    assert fake.stt_turns[1]["query"]["keyterm"] == ["Grok"]
