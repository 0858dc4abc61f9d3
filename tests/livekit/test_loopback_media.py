"""e2e: the LiveKit server as shipped (livekit.yaml, what `make run` starts) keeps media on
loopback: with audio flowing between two participants, none of its sockets is on another
address."""
from __future__ import annotations

import ipaddress
import math
import struct
import time
from typing import Any

import psutil
import pytest
from livekit import api

from tests.support import livekit_client, wait_until
from tests.support.livekit_client import LkParticipant

pytestmark = [pytest.mark.e2e]


def _token(env: dict[str, str], who: str) -> str:
    return (api.AccessToken(env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]).with_identity(who)
            .with_grants(api.VideoGrants(room_join=True, room="loopback-check")).to_jwt())


def _tone(seconds: float) -> bytes:
    rate = livekit_client.RATE
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                    for i in range(int(rate * seconds)))


def _server() -> psutil.Process:
    """The livekit-server this test run started (its child: another run's may be going on too)."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if (p.cmdline() or [""])[0].endswith("bin/livekit-server"):
                found.append(p)
        except psutil.Error:  # gone (a test's process exiting) or not ours to read
            continue
    assert len(found) == 1, found
    return found[0]


def test_media_flows_on_loopback_and_nothing_listens_elsewhere(livekit_env: dict[str, str],
                                                               lk_peers: list[Any]) -> None:
    url = livekit_env["LIVEKIT_URL"]
    talker = LkParticipant(url, _token(livekit_env, "talker")).connect()
    ear = LkParticipant(url, _token(livekit_env, "ear")).connect()
    lk_peers += [talker, ear]
    talker.publish()
    ear.listen("microphone")
    wait_until(lambda: "microphone" in ear.subscribed, 20, "the subscription")
    since = time.time() * 1000
    talker.play(_tone(2.0))
    wait_until(lambda: ear.sounds("microphone", since), 20, "the tone to arrive")
    sockets = _server().net_connections(kind="inet")
    assert sockets
    elsewhere = [(c.type.name, c.laddr) for c in sockets
                 if not ipaddress.ip_address(c.laddr.ip).is_loopback]
    assert elsewhere == [], f"livekit-server bound beyond loopback: {elsewhere}"
