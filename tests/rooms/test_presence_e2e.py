"""e2e, distributed, two web processes: a user is in a room on two devices (one socket on each web
process). Closing one is no departure: nobody is told they left, the other device keeps getting
captions and stays in the LiveKit call. Closing the last one is."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.livekit import LiveKitConfig, LiveKitService
from tests import support
from tests.support import Peer, room_with, wait_until
from tests.support.livekit_client import LkParticipant

pytestmark = [pytest.mark.e2e, pytest.mark.livekit]


@pytest.fixture
def two_webs(tmp_path: Path, log_dir: Path, redis_url: str,
             livekit_env: dict[str, str]) -> Iterator[tuple[Any, Any]]:
    with support.two_web_processes(tmp_path, log_dir, redis_url, **livekit_env) as webs:
        yield webs


def test_closing_one_of_two_devices_on_two_web_processes_is_no_departure(
        two_webs: tuple[Any, Any], peers: list[Peer], livekit_env: dict[str, str],
        lk_peers: list[Any]) -> None:
    web1, web2 = two_webs
    ana, dan = room_with(web1.url, peers, ("Ana", "en"), ("Dan", "es"))  # type: ignore[attr-defined]
    code = ana.got("joined-room")[0]["code"]
    room = ana.got("joined-room")[0]["roomId"]
    # Dan's second device, on the other web process, listening in the voice room.
    phone = Peer(web2.url, "", "", session={"token": dan.token, "user": dan.user}).connect()  # type: ignore[attr-defined]
    peers.append(phone)
    phone.join(code)
    assert phone.call("start-voice-session", {"listenOnly": True})["ok"]
    ready = phone.wait_for("voice-session-ready")[0]
    lk_peers.append(LkParticipant(ready["liveKitUrl"], ready["liveKitToken"]).connect())
    lk = LiveKitService(LiveKitConfig(livekit_env["LIVEKIT_URL"], livekit_env["LIVEKIT_API_KEY"],
                                      livekit_env["LIVEKIT_API_SECRET"]))
    wait_until(lambda: dan.id in {p.identity for p in lk.participants(room)}, 15, "Dan in the call")
    # The first device leaves the room, and is closed.
    assert dan.call("leave-room")["ok"]
    dan.close()
    time.sleep(3.0)  # past the disconnect grace (1 s in tests) and a LiveKit removal's time
    assert not ana.got("user-left")
    assert dan.id in {p.identity for p in lk.participants(room)}
    assert ana.say("Good morning everyone.", "en")["ok"]
    got = phone.wait_for("translated-message", timeout=30)[0]
    assert got["originalText"] == "Good morning everyone." and got["targetLang"] == "es"
    # The last device leaves: now Dan has left, and is out of the call.
    assert phone.call("leave-room")["ok"]
    assert ana.wait_for("user-left", lambda m: m["userId"] == dan.id, timeout=10)
    wait_until(lambda: dan.id not in {p.identity for p in lk.participants(room)}, 15,
               "Dan removed from the call")
