"""e2e: nothing a person said is lost or duplicated when Redis, the web process or a worker fails
(real Redis, web and Celery processes; clients behave as the page does: a send is retried with
its clientId until acknowledged, and history fills in after a reconnect or a `resync`)."""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import support
from tests.support import Peer, Proc, room_with

pytestmark = pytest.mark.e2e

def _sentence(i: int) -> str:
    return f"Sentence number {i} is about the weather."


def say_until_ok(p: Peer, text: str, client_id: str) -> dict[str, Any]:
    ack = p.say_until_taken(text, client_id)
    assert ack is not None and ack["ok"], f"{text!r} was never accepted: {ack}"
    return ack


def all_translated(listeners: list[Peer], n: int, timeout: float) -> dict[str, str | None]:
    """Wait until the listener (over all its connections) has `n` captions, each translated."""
    def merged() -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for p in listeners:
            for k, text in p.captions().items():
                out[k] = out.get(k) or text
        return out

    try:
        support.wait_until(lambda: len(merged()) >= n and all(merged().values()), timeout,
                           f"{n} translated captions", interval=0.5)
    except AssertionError:
        got = merged()
        raise AssertionError(f"{len(got)} captions, {sum(1 for v in got.values() if v)} "
                             f"translated of {n}") from None
    return merged()


def live_once(listeners: list[Peer]) -> None:
    """No utterance arrived live twice, over all of the listener's connections."""
    seen: dict[str, int] = {}
    for p in listeners:
        for m in p.got("translated-message"):
            seen[m["utteranceId"]] = seen.get(m["utteranceId"], 0) + 1
    assert all(n == 1 for n in seen.values()), {k: n for k, n in seen.items() if n > 1}


@pytest.fixture
def restartable_redis(log_dir: Path) -> Iterator[list[Any]]:
    """A Redis of this test's own (killed and started again on its port); [proc, url]."""
    proc, url = support.start_redis(log_dir)
    held: list[Any] = [proc, url]
    yield held
    held[0].stop()


def _distributed(tmp_path: Path, log_dir: Path, redis_url: str) -> tuple[dict[str, str], Proc, Proc]:
    env = support.base_env(tmp_path, REDIS_URL=redis_url, CELERY_VISIBILITY_TIMEOUT="4",
                           FANOUT_LOCK_TTL_MS="3000", RESUME_AFTER_S="5")
    support.migrate(env)
    web = support.start_web(env, log_dir)
    worker = support.start_worker(env, log_dir)
    support.wait_healthy(web.url, web, timeout=90)  # type: ignore[attr-defined]
    return env, web, worker


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def test_redis_killed_and_restarted_mid_stream_loses_and_duplicates_nothing(
        tmp_path: Path, log_dir: Path, restartable_redis: list[Any], peers: list[Peer]) -> None:
    """The issue's scenario: 10 said, Redis killed and down while 5 more are said (each retried
    until taken), back, 15 more: the Spanish listener has all 30, translated, each once."""
    redis_proc, url = restartable_redis
    env, web, worker = _distributed(tmp_path, log_dir, url)
    try:
        ana, bea = room_with(web.url, peers, ("Ana", "en"), ("Bea", "es"))  # type: ignore[attr-defined]
        for i in range(10):
            say_until_ok(ana, _sentence(i), f"c{i}")
        redis_proc.kill(signal.SIGKILL)
        during = [threading.Thread(target=say_until_ok, args=(ana, _sentence(i), f"c{i}"))
                  for i in range(10, 15)]
        for t in during:
            t.start()
        time.sleep(15)
        restartable_redis[0], _ = support.start_redis(log_dir, port=_port(url))
        if not worker.alive():
            # Celery's consumer sometimes dies of the lost connection ("Unrecoverable error" in
            # kombu's ack): a process manager starts it again (docker-compose: restart policy).
            worker = support.start_worker(env, log_dir, "worker-restarted")
        for t in during:
            t.join(timeout=150)
        for i in range(15, 30):
            say_until_ok(ana, _sentence(i), f"c{i}")
        got = all_translated([bea], 30, timeout=120)
        time.sleep(3)  # let any duplicate surface
        live_once([bea])
        texts = {m["originalText"] for m in bea.filled.values()} | {
            m["originalText"] for m in bea.got("translated-message")}
        assert texts == {_sentence(i) for i in range(30)}
        assert all("tiempo" in str(t) for t in got.values()), got
    finally:
        web.stop()
        worker.stop()


def test_web_process_killed_mid_stream_distributed_loses_and_duplicates_nothing(
        tmp_path: Path, log_dir: Path, redis_url: str, peers: list[Peer]) -> None:
    """A web process SIGKILLed while the worker keeps sending (into a queue nobody reads), started
    again: the reconnected listener fills in what it missed; nothing arrives twice."""
    import redis as redis_lib
    redis_lib.Redis.from_url(redis_url).flushall()
    env, web, worker = _distributed(tmp_path, log_dir, redis_url)
    procs = [web, worker]
    try:
        ana, bea = room_with(web.url, peers, ("Ana", "en"), ("Bea", "es"))  # type: ignore[attr-defined]
        code = ana.got("joined-room")[0]["code"]
        for i in range(8):
            say_until_ok(ana, _sentence(i), f"c{i}")
        web.kill(signal.SIGKILL)
        time.sleep(2)  # fan-outs finish meanwhile: their messages reach no web process
        web2 = support.start_web(env, log_dir, port=_port(web.url))  # type: ignore[attr-defined]
        procs.append(web2)
        support.wait_healthy(web2.url, web2, timeout=90)  # type: ignore[attr-defined]
        ana2, bea2 = ana.again().connect(), bea.again().connect()
        peers += [ana2, bea2]
        ana2.join(code)
        bea2.join(code)
        bea2.fill_in()
        for i in range(8, 12):
            say_until_ok(ana2, _sentence(i), f"c{i}")
        all_translated([bea, bea2], 12, timeout=90)
        time.sleep(3)
        live_once([bea, bea2])
    finally:
        for p in procs:
            p.stop()


def test_users_of_a_web_process_killed_for_good_leave_their_rooms(
        tmp_path: Path, log_dir: Path, redis_url: str, peers: list[Peer]) -> None:
    """Distributed, two web processes; one is SIGKILLed. Of its users, one comes back on the
    other process (stays in the room), one never does: after the grace they leave the room, as
    if their own process had seen them go, so they listen to nothing more and the room says so."""
    import redis as redis_lib
    redis_lib.Redis.from_url(redis_url).flushall()
    env, web1, worker = _distributed(tmp_path, log_dir, redis_url)
    web2 = support.start_web(env, log_dir)
    procs = [web1, worker, web2]
    try:
        support.wait_healthy(web2.url, web2, timeout=90)  # type: ignore[attr-defined]
        ana, = room_with(web2.url, peers, ("Ana", "en"))  # type: ignore[attr-defined]
        code = ana.got("joined-room")[0]["code"]
        carl, dan = (Peer(web1.url, name, "es").connect() for name in ("Carl", "Dan"))  # type: ignore[attr-defined]
        peers += [carl, dan]
        carl.join(code)
        dan.join(code)
        web1.kill(signal.SIGKILL)
        dan2 = Peer(web2.url, "", "", session={"token": dan.token, "user": dan.user}).connect()  # type: ignore[attr-defined]
        peers.append(dan2)
        dan2.join(code)
        assert ana.wait_for("user-left", lambda m: m["userId"] == carl.id, timeout=60)
        support.when_quiet(lambda: ana.got("user-left"), quiet_s=3)
        assert [m["userId"] for m in ana.got("user-left")] == [carl.id]
        eve = Peer(web2.url, "Eve", "fr").connect()  # type: ignore[attr-defined]
        peers.append(eve)
        eve.join(code)
        there = {p["userId"] for p in eve.got("joined-room")[-1]["participants"]}
        assert there == {ana.id, dan.id, eve.id}
        say_until_ok(ana, _sentence(0), "c0")
        assert dan2.wait_for("translated-message", timeout=30)
    finally:
        for p in procs:
            p.stop()


def test_web_process_killed_mid_fanout_embedded_resumes_after_restart(
        tmp_path: Path, log_dir: Path, peers: list[Peer]) -> None:
    """Embedded, fan-outs run on the web process's green threads: killed with five of them
    waiting for the translator, the next process resumes them, and the listener gets each once."""
    env = support.base_env(tmp_path)
    support.migrate(env)
    web = support.start_web(env, log_dir)
    procs = [web]
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        ana, bea = room_with(web.url, peers, ("Ana", "en"), ("Bea", "es"))  # type: ignore[attr-defined]
        code = ana.got("joined-room")[0]["code"]
        say_until_ok(ana, _sentence(0), "c0")
        bea.wait_for("translated-message")
        apy = support.apy_pid(web.url)  # type: ignore[attr-defined]
        os.kill(apy, signal.SIGSTOP)  # every Spanish translation now hangs: fan-outs in flight
        for i in range(1, 6):
            say_until_ok(ana, _sentence(i), f"c{i}")
        time.sleep(1)
        assert len(bea.got("translated-message")) == 1
        web.kill(signal.SIGKILL)
        try:
            os.kill(apy, signal.SIGKILL)  # gone with its parent already (engines.children); if not, now
        except ProcessLookupError:
            pass
        web2 = support.start_web(env, log_dir, port=_port(web.url))  # type: ignore[attr-defined]
        procs.append(web2)
        support.wait_healthy(web2.url, web2, timeout=90)  # type: ignore[attr-defined]
        bea2 = bea.again().connect()
        peers.append(bea2)
        bea2.join(code)
        bea2.fill_in()
        got = all_translated([bea, bea2], 6, timeout=90)
        time.sleep(3)
        live_once([bea, bea2])
        assert sorted(got.values()) == sorted(set(got.values())) and all(
            "tiempo" in str(t) for t in got.values())
    finally:
        for p in procs:
            p.stop()


def test_a_dropped_subscription_has_every_socket_resync(distributed: Any, peers: list[Peer]) -> None:
    """Redis drops the web process's subscription (a restart, a slow subscriber past its buffer
    limit): whatever was published meanwhile is gone from pub/sub, so its sockets are told."""
    import redis as redis_lib
    ana, bea = room_with(distributed.url, peers, ("Ana", "en"), ("Bea", "es"))
    r = redis_lib.Redis.from_url(distributed.env["REDIS_URL"])
    assert r.client_kill_filter(_type="pubsub") >= 1
    for p in (ana, bea):
        assert p.wait_for("resync", timeout=15)[0]["since"] > 0
    assert say_until_ok(ana, _sentence(1), "after")["ok"]  # and the subscription works again
    bea.wait_for("translated-message", timeout=30)
