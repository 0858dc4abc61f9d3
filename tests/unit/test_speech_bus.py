"""unit: both ends of the Redis speech link on a real Redis, with a small in-test recogniser.
Each reader goes on past an entry it cannot handle; a session's audio arrives whole and in
order; a session whose web process is gone ends; a session whose speech process is gone ends on
the web side and its speaker is told. Entries are signed: what a client of Redis without the key
posts (or copies from another stream, or signs as another process) changes nothing."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from agent import bus_server
from agent.bus_server import BusServer
from app.speech_bus import BusSpeechLink
from app.speech_link import RESTARTED, AudioSession
from core import speech_bus as bus
from engines.stt.base import STT, SpeechEvent, SpeechStream, STTCapabilities
from engines.stt.registry import STTRegistry
from tests.support import wait_until
from tests.unit.inprocess import App, received

pytestmark = pytest.mark.unit
SID = "s" * 32
SECRET = "unit-speech-link-secret"
KEY = hashlib.sha256(SECRET.encode()).digest()  # as core.settings derives it from SPEECH_LINK_SECRET


class Counting(STT):
    """Its final says how many bytes of audio it was given, and their first and last byte."""

    name = "local"

    @property
    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(streaming=True, interim_results=False, offline=True,
                               languages=frozenset({"en"}))

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        return ""

    def stream(self, language: str, key_prefix: str, options: Any = None) -> SpeechStream:
        got = bytearray()

        class _S(SpeechStream):
            def push(self, pcm16: bytes) -> list[SpeechEvent]:
                got.extend(pcm16)
                return []

            def flush(self) -> list[SpeechEvent]:
                text = f"{len(got)} bytes {got[:1].hex()}..{got[-1:].hex()}"
                return [SpeechEvent("final", text, language, key_prefix + "-1", 0, 0, 0)]
        return _S()


@pytest.fixture
def r(redis_url: str) -> Iterator[bus.BusRedis]:
    client = bus.client(redis_url, KEY, "web-unit")
    client.flushall()
    yield client
    client.flushall()


def as_(r: bus.BusRedis, name: str, key: bytes = KEY) -> bus.BusRedis:
    """The same Redis, signing as `name` (with `key`)."""
    other = bus.BusRedis(connection_pool=r.connection_pool)
    other.key, other.sender = key, name
    return other


@pytest.fixture
def server(redis_url: str, r: redis.Redis) -> Iterator[BusServer]:
    srv = BusServer(redis_url, KEY, STTRegistry({"local": Counting}, default="local"),
                    name="speech-unit")
    threading.Thread(target=srv.run, daemon=True).start()
    wait_until(lambda: bus.processes(r), 5, "the speech process to say it is there")
    yield srv
    srv.gone()


def _replies(r: bus.BusRedis, name: str) -> list[dict[str, Any]]:
    return [m for stream, _, f in bus.read(r, {bus.replies(name): b"0-0"}, 1, 1000)
            if isinstance(m := bus.decode(r, stream, f), dict)]


def _start(r: bus.BusRedis, reply_to: str, sid: str = SID, **extra: Any) -> None:
    bus.post(as_(r, reply_to), bus.JOBS, {"op": "start", "session": sid, "language": "en",
                                          "rate": 16000, "replyTo": reply_to,
                                          "deadline": time.time() + 30, **extra}, ttl=None)


def test_the_speech_process_reads_on_past_bad_jobs_and_bad_session_entries(
        r: redis.Redis, server: BusServer) -> None:
    r.set(bus.WEB_ALIVE + "web-unit", "1", ex=60)
    for bad in ({b"k": b"J", b"b": b"{nope"}, {b"x": b"1"}, {b"k": b"J", b"b": b"[1, 2]"}):
        r.xadd(bus.JOBS, bad)  # type: ignore[arg-type]
    start = {"op": "start", "session": SID, "language": "en", "rate": 16000}
    for job in ({"op": "start", "session": SID, "deadline": time.time() + 30},  # no reply stream
                {"op": "start", "session": SID, "replyTo": "../../x y", "deadline": time.time() + 30},
                {"op": "start", "session": SID, "replyTo": "web-unit", "deadline": time.time() - 1},
                {"op": "start", "session": SID, "replyTo": "web-unit", "deadline": time.time() + 30},
                dict(start, replyTo="web-unit", deadline=time.time() + 30, rate=7),
                dict(start, replyTo="web-unit", deadline=time.time() + 30, session="short"),
                dict(start, replyTo="web-unit", deadline=time.time() + 30, op="shell"),
                dict(start, replyTo="web-unit", deadline=1e300)):  # never expires: refused
        bus.post(r, bus.JOBS, job, ttl=None)  # the 4th has no language: it fails, and is dropped
    # A deadline of NaN: JSON has no NaN, so our side cannot write it; signed by hand, it is refused.
    body = b'{"op":"start","session":"%s","language":"en","rate":16000,"replyTo":"web-unit",' \
           b'"deadline":NaN}' % SID.encode()
    at = str(int(time.time() * 1000)).encode()
    r.xadd(bus.JOBS, {b"k": b"J", b"b": body, b"s": b"web-unit", b"t": at,  # type: ignore[arg-type]
                      b"m": bus._mac(KEY, bus.JOBS, b"J", b"web-unit", at, body)})
    assert not [m for m in _replies(r, "web-unit") if m["type"] == "started"]
    _start(r, "web-unit")
    wait_until(lambda: [m for m in _replies(r, "web-unit") if m["type"] == "started"], 5,
               "the good start to be taken")
    stream = bus.session_in(SID)
    bus.post(r, stream, audio=b"\x01" + b"\0" * 3199)
    r.xadd(stream, {b"k": b"Q", b"b": b"what"})  # type: ignore[arg-type]
    r.xadd(stream, {b"k": b"A", b"b": b"\x09" * 320})  # type: ignore[arg-type]  # unsigned audio
    bus.post(as_(r, "web-other"), stream, audio=b"\x09" * 320)  # signed, not by the session's web
    bus.post(as_(r, "web-unit", b"x" * 32), stream, audio=b"\x09" * 320)  # another key
    bus.post(as_(r, "web-other"), stream, {"op": "stop"})  # nor its stop
    bus.post(r, stream, audio=b"\0" * 3)  # not PCM16
    bus.post(r, stream, {"op": "keyterms", "keyterms": "not a list"})
    bus.post(r, stream, audio=b"\0" * 3199 + b"\x02")
    bus.post(r, stream, {"op": "stop"})
    wait_until(lambda: [m for m in _replies(r, "web-unit") if m["type"] == "ended"], 5,
               "the session to end")
    got = _replies(r, "web-unit")
    assert [m["type"] for m in got] == ["started", "final", "ended"]
    assert got[0]["owner"] == "speech-unit" and got[1]["text"] == "6400 bytes 01..02"
    wait_until(lambda: not r.exists(stream) and server.sessions == {}, 5,
               "the session's stream to go with it")
    assert r.xlen(bus.JOBS) == 0  # taken jobs (a start carries who speaks) are not kept


def test_a_session_whose_web_process_is_gone_ends_and_its_finals_go_to_the_orphans(
        r: bus.BusRedis, server: BusServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its web process is not there: the session ends, and its finals — the one it had sent
    before (perhaps never handled) and its last — go to the orphans stream with who said them,
    for a live web process to deliver."""
    monkeypatch.setattr(bus_server, "WEB_CHECK_S", 0.2)
    r.set(bus.WEB_ALIVE + "web-gone", "1", ex=60)
    _start(r, "web-gone", user="u-ann", room="r-1", solo=None)
    wait_until(lambda: [m for m in _replies(r, "web-gone") if m["type"] == "started"], 5, "the start")
    # A final it sent while its web process was there, which that process never handled.
    bus.post(as_(r, "speech-unit"), bus.replies("web-gone"), {
        "type": "final", "session": SID, "text": "before", "utteranceKey": f"{SID}:0"})
    bus.post(as_(r, "web-gone"), bus.session_in(SID), audio=b"\x05" * 640)
    time.sleep(0.5)
    r.delete(bus.WEB_ALIVE + "web-gone")  # it died
    wait_until(lambda: server.sessions == {}, 10, "the session to be forgotten")

    def orphans() -> list[dict[str, Any]]:
        return [m for stream, _, f in bus.read(r, {bus.ORPHANS: b"0-0"}, 1, 100)
                if isinstance(m := bus.decode(r, stream, f), dict)]
    wait_until(lambda: len(orphans()) == 2, 10, "both finals among the orphans")
    got = orphans()
    assert [m["text"] for m in got] == ["before", "640 bytes 05..05"]
    assert all(m["who"] == {"user": "u-ann", "room": "r-1", "language": "en", "solo": None}
               for m in got)
    assert not [m for m in _replies(r, "web-gone") if m["type"] == "ended"]  # nobody to tell


def test_a_session_its_web_process_forgot_ends_when_nothing_comes(
        r: redis.Redis, server: BusServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web process is there but sends nothing more for the session (it ended it on its side
    during a Redis blip): the speech process does not run it for ever."""
    monkeypatch.setattr(bus_server, "WEB_CHECK_S", 0.2)
    monkeypatch.setattr(bus_server, "IDLE_S", 1.0)
    r.set(bus.WEB_ALIVE + "web-forgot", "1", ex=60)
    _start(r, "web-forgot")
    bus.post(r, bus.session_in(SID), audio=b"\0" * 320)
    wait_until(lambda: [m for m in _replies(r, "web-forgot") if m["type"] == "ended"], 10,
               "the idle session to end")
    assert [m["type"] for m in _replies(r, "web-forgot")] == ["started", "final", "ended"]


def test_jobs_without_the_key_or_for_another_process_change_nothing(
        r: bus.BusRedis, server: BusServer) -> None:
    """An unsigned `say` and `start`, ones signed with another key or copied from another stream,
    and a signed start whose results would go to another web process's stream: no reply, no
    session. The same jobs signed as they should be are answered."""
    r.set(bus.WEB_ALIVE + "web-victim", "1", ex=60)
    say = {"op": "say", "id": "x", "replyTo": "req-forged", "deadline": time.time() + 30,
           "room": "r", "text": "Transfer the money now", "language": "en"}
    start = {"op": "start", "session": SID, "language": "en", "rate": 16000,
             "replyTo": "web-victim", "deadline": time.time() + 30}
    for job in (say, start):
        r.xadd(bus.JOBS, {b"k": b"J", b"b": json.dumps(job).encode()})  # type: ignore[arg-type]
        bus.post(as_(r, "web-victim", b"y" * 32), bus.JOBS, job, ttl=None)
        copied = bus.entry(as_(r, "web-victim"), bus.replies("web-victim"), job)  # signed for another stream
        r.xadd(bus.JOBS, copied)  # type: ignore[arg-type]
    bus.post(as_(r, "web-attacker"), bus.JOBS, start, ttl=None)  # results to someone else's stream
    time.sleep(1.5)
    assert _replies(r, "req-forged") == [] and _replies(r, "web-victim") == []
    assert server.sessions == {}
    # Signed by the sender it names: answered (so the checks above could have failed).
    bus.post(as_(r, "web-victim"), bus.JOBS, start, ttl=None)
    bus.post(as_(r, "web-anyone"), bus.JOBS, say, ttl=None)
    wait_until(lambda: _replies(r, "req-forged") and _replies(r, "web-victim"), 5, "the signed jobs")
    assert _replies(r, "req-forged")[0]["code"] == "no_voice_rooms"
    assert _replies(r, "web-victim")[0]["type"] == "started"


@pytest.fixture
def link(app: App, redis_url: str, r: redis.Redis) -> Iterator[BusSpeechLink]:
    settings = app.svc.settings.model_copy(update={
        "redis_url": redis_url, "speech": app.svc.settings.speech.model_copy(update={"link_secret": SECRET})})
    lk = BusSpeechLink(app.flask, settings)
    lk.spawn = False
    yield lk
    lk.close()


def test_the_web_reader_goes_on_past_bad_entries(link: BusSpeechLink, r: redis.Redis) -> None:
    link.sessions[SID] = AudioSession(SID, "sid-x", "no-such-user", None, "en", None, 16000)
    stream = bus.replies(link.name)
    r.xadd(stream, {b"k": b"J", b"b": b"{nope"})  # type: ignore[arg-type]
    r.xadd(stream, {b"k": b"A", b"b": b"\0\0"})  # type: ignore[arg-type]
    for bad in ({"type": "final", "session": SID},  # no text
                {"type": "final", "session": SID, "text": "Hi", "utteranceKey": "k", "speechEndAt": "x"}):
        r.xadd(stream, {b"k": b"J", b"b": json.dumps(bad).encode()})  # type: ignore[arg-type]
    bus.post(as_(r, "speech-somewhere"), stream, {"type": "started", "session": SID,
                                                  "owner": "speech-somewhere"})
    reader = threading.Thread(target=link.read_forever, daemon=True)
    reader.start()
    wait_until(lambda: link.sessions[SID].owner == "speech-somewhere", 5,
               "the reader to read on past bad entries")
    assert reader.is_alive()
    wait_until(lambda: r.xlen(stream) == 0, 5, "what was read to be removed from Redis")


def test_sessions_of_a_speech_process_that_is_gone_end_and_their_speakers_are_told(
        app: App, link: BusSpeechLink, r: redis.Redis) -> None:
    uid = app.sign_up("Ann", "en")
    client = app.connect(uid)
    from app.clients import clients
    sid = next(iter(clients.snapshot()))
    bus.say_alive(r, "speech-here", {"sessions": 1})
    here = AudioSession("h" * 32, sid, uid, None, "en", None, 16000, owner="speech-here")
    gone = AudioSession("g" * 32, sid, uid, None, "en", None, 16000, owner="speech-gone")
    untaken = AudioSession("u" * 32, sid, uid, None, "en", None, 16000, began=time.monotonic() - 60)
    for s in (here, gone, untaken):
        link.sessions[s.session_id] = s
    link.tick()
    assert set(link.sessions) == {"h" * 32}
    assert received(client, "speech-error") == [RESTARTED] * 2
    # The one nobody had taken yet may still be taken: it is told to stop at once.
    stop = [m for stream, _, f in bus.read(r, {bus.session_in("u" * 32): b"0-0"}, 1)
            if isinstance(m := bus.decode(r, stream, f), dict)]
    assert stop == [{"op": "stop"}]
    # A final that comes late for a session ended here is still delivered (not dropped).
    assert link._session("g" * 32) is gone


def test_a_sessions_results_count_only_from_the_speech_process_that_took_it(
        link: BusSpeechLink, r: bus.BusRedis) -> None:
    """A `started` or `ended` posted without the key, signed for another stream, or signed by a
    process that does not own the session changes nothing on the web side; the owner's do."""
    link.sessions[SID] = AudioSession(SID, "sid-x", "no-such-user", None, "en", None, 16000)
    stream = bus.replies(link.name)
    owner, other = as_(r, "speech-owner"), as_(r, "speech-other")
    started = {"type": "started", "session": SID, "owner": "speech-owner"}
    r.xadd(stream, {b"k": b"J", b"b": json.dumps(started).encode()})  # type: ignore[arg-type]
    bus.post(as_(r, "speech-owner", b"z" * 32), stream, started)
    r.xadd(stream, bus.entry(owner, bus.replies("web-elsewhere"), started))  # type: ignore[arg-type]
    bus.post(other, stream, started)  # signed, but names another process than the signer
    reader = threading.Thread(target=link.read_forever, daemon=True)
    reader.start()
    wait_until(lambda: r.xlen(stream) == 0, 5, "the forged entries to be read")
    assert link.sessions[SID].owner == ""
    bus.post(owner, stream, started)
    wait_until(lambda: link.sessions[SID].owner == "speech-owner", 5, "the owner's start")
    bus.post(other, stream, {"type": "started", "session": SID, "owner": "speech-other"})
    bus.post(other, stream, {"type": "ended", "session": SID})
    wait_until(lambda: r.xlen(stream) == 0, 5, "the other process's entries to be read")
    assert SID in link.sessions and link.sessions[SID].owner == "speech-owner"
    bus.post(owner, stream, {"type": "ended", "session": SID})
    wait_until(lambda: SID not in link.sessions, 5, "the owner's end")
