"""e2e, distributed: two web processes and a speech process of their own. A speaker's web process
is SIGKILLed while they are in mid-sentence: what they said is still delivered to a listener on
the other web process (the speech process ends the session and hands its final, with who said it,
to the orphans stream, which a live web process takes), once."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import support
from tests.support import Peer, room_with, when_quiet
from tests.support.speech import clips, normalize, wer

pytestmark = [pytest.mark.e2e, pytest.mark.speech]


@pytest.fixture
def two_webs(tmp_path: Path, log_dir: Path, redis_url: str) -> Iterator[tuple[Any, Any]]:
    with support.two_web_processes(tmp_path, log_dir, redis_url, speech=True) as webs:
        yield webs


def test_what_was_said_when_the_speakers_web_process_died_is_delivered(
        two_webs: tuple[Any, Any], peers: list[Peer]) -> None:
    web1, web2 = two_webs
    ann, = room_with(web1.url, peers, ("Ann", "en"))  # type: ignore[attr-defined]
    code = ann.got("joined-room")[0]["code"]
    bob = Peer(web2.url, "Bob", "es").connect()  # type: ignore[attr-defined]
    peers.append(bob)
    bob.join(code)
    pcm, ref = clips()[0]
    support.wait_until(lambda: ann.call("start-speech", {"languageCode": "en"})["ok"], 60,
                       "the speech process to take the session")
    cut = 32000 * 9 // 2  # 4.5 s of the 7 s sentence, and no pause: Ann is in mid-sentence
    started = time.monotonic()
    for k, i in enumerate(range(0, cut, 3200)):  # at the pace it is spoken
        ann.sio.emit("speech-data", pcm[i:i + 3200])
        time.sleep(max(0.0, started + (k + 1) * 0.1 - time.monotonic()))
    ann.wait_for("interim-transcript", timeout=30)
    killed_at = time.time()
    os.kill(web1.popen.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    # What Ann had said and no process had made a caption of when hers died comes after it, from
    # the speech process through the orphans stream to web 2: once her web process's heartbeat
    # has lapsed (up to 6 s) and the speech process has looked (every 5 s) and decoded the rest.
    # A segment committed before the kill may have arrived already; it does not count.
    def captions() -> list[tuple[dict[str, Any], float]]:
        return [(d, t / 1000) for e, d, t in bob.events if e == "translated-message"]
    support.wait_until(lambda: [d for d, at in captions() if at > killed_at + 1.0], 60,
                       "a caption of what Ann said before her web process died")
    when_quiet(lambda: bob.got("translated-message"), quiet_s=5.0, timeout=60)
    got = captions()
    parts = sorted((d for d, _ in got), key=lambda d: (d["utteranceKey"], d["part"]))
    assert len({(d["utteranceKey"], d["part"]) for d in parts}) == len(parts)  # none twice
    said = normalize(" ".join(d["originalText"] for d in parts))
    edits, _ = wer(normalize(ref)[:len(said)], said)
    assert len(said) >= 8 and edits <= 0.25 * len(said), said
    assert all(d["fromUserId"] == ann.id for d in parts)
