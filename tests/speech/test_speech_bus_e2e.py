"""e2e: the speech link over Redis (distributed mode). The web process starts no speech process of
its own; two run separately, as on other hosts, and share the sessions of the Socket.IO audio
path, synthesis and the voice lists. One of them killed mid-speech: its speakers are told and
start again on the other, whose speakers notice nothing; every final arrives once."""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import support
from tests.support import Peer, Service, room_with, wait_until
from tests.support.processes import PY, Proc, start
from tests.support.speech import clips, normalize

pytestmark = [pytest.mark.e2e, pytest.mark.speech]


@pytest.fixture
def bus(tmp_path: Path, log_dir: Path, redis_url: str) -> Iterator[tuple[Service, list[Proc]]]:
    import redis as redis_lib
    redis_lib.Redis.from_url(redis_url).flushall()
    env = support.base_env(tmp_path, REDIS_URL=redis_url, SPEECH_MANAGED="0",
                           CELERY_VISIBILITY_TIMEOUT="4", FANOUT_LOCK_TTL_MS="3000")
    support.migrate(env)
    speech = [start(f"speech{i}", [PY, "-m", "agent.speech_server"], env, log_dir)
              for i in (1, 2)]
    web = support.start_web(env, log_dir)
    worker = support.start_worker(env, log_dir)
    svc = Service(web.url, env, log_dir, [web, worker, *speech])  # type: ignore[attr-defined]
    try:
        support.wait_healthy(web.url, web, timeout=90)  # type: ignore[attr-defined]
        wait_until(lambda: len(_processes(svc)) == 2, 90, "both speech processes to be there")
        yield svc, speech
    finally:
        for p in svc.procs:
            p.stop()


def _processes(svc: Service) -> list[dict[str, Any]]:
    return list(svc.health()["engines"]["speech"].get("processes") or [])


def _send(p: Peer, pcm: bytes, chunk_ms: int = 100) -> None:
    step = 16000 * 2 * chunk_ms // 1000
    for i in range(0, len(pcm), step):
        p.sio.emit("speech-data", pcm[i:i + step])


def test_two_speech_processes_share_sessions_and_one_killed_loses_nothing(
        bus: tuple[Service, list[Proc]], peers: list[Peer]) -> None:
    svc, speech = bus
    assert svc.health()["engines"]["speech"]["link"] == "redis"
    listener, *speakers = room_with(svc.url, peers, ("Listener", "es"), *[(f"S{i}", "en") for i in range(4)])
    data = clips()[:4]
    silence = b"\0" * 32000
    for s in speakers:
        assert s.call("start-speech", {"languageCode": "en"})["ok"]
    # Each session went to one process, and both took some.
    wait_until(lambda: sorted(p["sessions"] for p in _processes(svc)) in ([1, 3], [2, 2]), 15,
               "the four sessions to be spread over both speech processes")
    # Half of each sentence, then the process with the most sessions (either, if even) is killed.
    for s, (pcm, _) in zip(speakers, data, strict=True):
        _send(s, pcm[:len(pcm) // 2])
    procs = {p["name"]: p for p in _processes(svc)}
    victim_name = max(procs, key=lambda n: procs[n]["sessions"])
    victim_pid = int(victim_name.split("-")[-2])
    lost = procs[victim_name]["sessions"]
    assert victim_pid in (p.popen.pid for p in speech)
    os.kill(victim_pid, signal.SIGKILL)
    wait_until(lambda: sum(bool(s.got("speech-error")) for s in speakers) == lost, 20,
               "the killed process's speakers to be told")
    told = [s for s in speakers if s.got("speech-error")]
    assert all("restarted" in s.got("speech-error")[0] for s in told)
    kept = [s for s in speakers if s not in told]
    assert len(kept) == 4 - lost
    # The others finish their sentences: nothing of theirs was lost. Those told start again and
    # land on the process that is left.
    for s in kept:
        pcm = data[speakers.index(s)][0]
        _send(s, pcm[len(pcm) // 2:] + silence)
        assert s.call("stop-speech")["ok"]
    for s in told:
        assert s.call("stop-speech")["error"]["code"] == "no_session"

    acks: list[tuple[Any, Any]] = []

    def again(s: Peer) -> None:
        start = s.call("start-speech", {"languageCode": "en"})
        _send(s, data[speakers.index(s)][0] + silence)
        acks.append((start, s.call("stop-speech")))

    threads = [threading.Thread(target=again, args=(s,)) for s in told]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert len(acks) == len(told) and all(a["ok"] and b["ok"] for a, b in acks), acks
    for s, (_, ref) in zip(speakers, data, strict=True):
        final = s.wait_for("recognized-speech", timeout=90)[0]
        assert set(normalize(ref)[:3]) <= set(normalize(final["text"])), (ref, final["text"])
    translated = listener.wait_for("translated-message", count=4, timeout=60)
    support.when_quiet(lambda: listener.got("translated-message"), quiet_s=3)
    # Each speaker's sentence once: one utterance, its segments each once and none missing.
    parts: dict[str, list[tuple[str, int]]] = {}
    for m in listener.got("translated-message"):
        parts.setdefault(m["fromUserId"], []).append((m["utteranceKey"], m["part"]))
    assert sorted(parts) == sorted(s.id for s in speakers), "a speaker's final lost"
    for got in parts.values():
        assert len({k for k, _ in got}) == 1 and sorted(p for _, p in got) == list(range(len(got))), \
            f"a final lost or delivered twice: {got}"
    assert len(translated) >= 4 and [len({f["utteranceKey"] for f in s.got("recognized-speech")})
                                     for s in speakers] == [1] * 4
    assert len(_processes(svc)) == 1


def test_synthesis_and_voice_lists_go_over_the_link(bus: tuple[Service, list[Proc]],
                                                    peers: list[Peer]) -> None:
    svc, _ = bus
    a, b = room_with(svc.url, peers, ("Ann", "en"), ("Eva", "es"))
    r = requests.post(svc.url + "/api/tts", json={"text": "Good morning.", "language": "en"},
                      headers=a.headers(), timeout=30)
    assert r.status_code == 200 and r.headers["X-TTS-Engine"] == "local:piper:joe"
    assert r.content[:4] == b"RIFF"
    voices = requests.get(svc.url + "/api/tts/voices", params={"language": "es"},
                          headers=a.headers(), timeout=30)
    assert voices.status_code == 200 and voices.json()["voices"], voices.text
    # The worker's tts-audio for a listener with speech on synthesizes over the link too.
    assert requests.patch(svc.url + "/api/me", json={"ttsEnabled": True},
                          headers=b.headers()).status_code == 200
    a.say("Good morning.", "en")
    audio = b.wait_for("tts-audio", timeout=30)[0]
    got = requests.get(svc.url + audio["url"], timeout=10)
    assert got.status_code == 200 and got.content[:4] == b"RIFF"
