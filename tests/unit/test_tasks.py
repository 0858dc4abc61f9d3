"""unit: the Celery face (workers.tasks) on Celery's in-memory broker, tasks applied in-process as
the embedded default runs them: retries with back-off until the engine answers, the per-utterance
lock, and (integration) the Redis lock of the distributed mode."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from core import runtime as core_runtime
from core.runtime import Runtime
from engines.errors import EngineConnectionError
from tests.support import ROOT, wait_until
from tests.unit.conftest import Recorder, Scripted, add_room, add_user, add_utterance
from workers import tasks

pytestmark = pytest.mark.unit


@pytest.fixture
def configured(rt: Runtime) -> Iterator[Runtime]:
    assert tasks.celery.conf.broker_url == "memory://" and tasks.celery.conf.task_always_eager
    core_runtime.configure(rt)
    yield rt
    core_runtime.configure(None)  # type: ignore[arg-type]


def _room_with_a_french_listener(url: str) -> tuple[str, str, str]:
    speaker, fr = add_user(url, "Ann", "en"), add_user(url, "Eve", "fr")
    return speaker, fr, add_room(url, speaker, fr)


def test_a_failing_engine_is_retried_with_back_off_until_it_answers(configured: Runtime,
                                                                      local: Scripted) -> None:
    url = configured.settings.database_url
    speaker, _, room = _room_with_a_french_listener(url)
    local.fail = lambda n: EngineConnectionError("down", engine="local") if n <= 2 else None
    uid = add_utterance(url, speaker, "Hello", "en", room)
    started = time.monotonic()
    result = tasks.fanout.apply(args=(uid, None))
    assert result.successful() and result.result == 1
    assert len(local.calls) == 3
    assert time.monotonic() - started >= 3.0  # back-off of 1 s then 2 s, kept when eager
    emitter = configured.emitter
    assert isinstance(emitter, Recorder)
    assert [d["translatedText"] for d, _ in emitter.events("translated-message")] == ["fr:Hello"]
    assert not emitter.events("translation-failed")


def test_the_last_retry_reports_the_failure_instead_of_retrying_forever(configured: Runtime,
                                                                          local: Scripted) -> None:
    url = configured.settings.database_url
    speaker, fr, room = _room_with_a_french_listener(url)
    local.fail = lambda n: EngineConnectionError("down", engine="local")
    uid = add_utterance(url, speaker, "Hello", "en", room)
    result = tasks.fanout.apply(args=(uid, None), retries=tasks.MAX_RETRIES)
    assert result.successful() and result.result == 0
    assert len(local.calls) == 1
    emitter = configured.emitter
    assert isinstance(emitter, Recorder)
    assert [d["targetLang"] for d, _ in emitter.events("translation-failed")] == ["fr"]


def test_enqueue_runs_the_fan_out_in_this_process_when_embedded(configured: Runtime) -> None:
    url = configured.settings.database_url
    speaker, fr, room = _room_with_a_french_listener(url)
    uid = add_utterance(url, speaker, "Hello", "en", room)
    tasks.enqueue_fanout(uid)
    emitter = configured.emitter
    assert isinstance(emitter, Recorder)
    wait_until(lambda: emitter.events("translated-message"), 10, "the embedded fan-out")


def test_two_runs_of_one_utterance_take_turns_embedded(rt: Runtime) -> None:
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with tasks.utterance_lock(rt, "u1"):
            inside.set()
            time.sleep(0.3)
            order.append("first")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with tasks.utterance_lock(rt, "u1"):
        order.append("second")
    t.join()
    assert order == ["first", "second"]


def test_three_runs_of_one_utterance_never_overlap_and_a_held_lock_shows(rt: Runtime) -> None:
    """A resumed fan-out arriving while a second run waits behind the first must wait too (the
    lock was dropped when the first finished, and the third took a new one)."""
    inside: list[int] = []
    overlaps: list[int] = []
    guard = threading.Lock()

    def run(n: int, hold: float) -> None:
        with tasks.utterance_lock(rt, "u3"):
            with guard:
                if inside:
                    overlaps.append(n)
                inside.append(n)
            time.sleep(hold)
            with guard:
                inside.remove(n)

    runs = [threading.Thread(target=run, args=(1, 0.2)), threading.Thread(target=run, args=(2, 0.3))]
    for t in runs:
        t.start()
        time.sleep(0.05)
    assert tasks.fanout_running(rt, "u3")
    time.sleep(0.25)  # the first is done, the second holds the lock: a third comes (a resume)
    third = threading.Thread(target=run, args=(3, 0.1))
    third.start()
    for t in (*runs, third):
        t.join(5)
    assert overlaps == []
    assert not tasks.fanout_running(rt, "u3")


@pytest.mark.integration
def test_the_redis_lock_is_exclusive_and_released_only_by_its_holder(rt: Runtime, redis_url: str) -> None:
    import redis
    dist = dataclasses.replace(rt, settings=rt.settings.model_copy(update={
        "redis_url": redis_url, "fanout": rt.settings.fanout.model_copy(update={"lock_ttl_ms": 400})}))
    r = redis.Redis.from_url(redis_url)
    with tasks.utterance_lock(dist, "u2"):
        with pytest.raises(tasks.Busy):
            with tasks.utterance_lock(dist, "u2"):
                pass
        time.sleep(0.6)  # this run outlived its lock; another run takes it
        taken = r.lock("lt:lock:fanout:u2", timeout=5)
        assert taken.acquire(blocking=False)
    # Leaving the first run did not free the second run's lock.
    assert r.get("lt:lock:fanout:u2") is not None
    with pytest.raises(tasks.Busy):
        with tasks.utterance_lock(dist, "u2"):
            pass
    taken.release()


def test_the_tasks_are_bound_as_soon_as_they_are_imported() -> None:
    """In a fresh process: Celery's lazy finalize marks the app finalized before binding its
    tasks, so the first two fan-outs started at once on two threads could meet an unbound task."""
    code = ("from workers import tasks; "
            "assert tasks.celery.finalized; "
            "assert type(tasks.celery.tasks['fanout']).request_stack is not None; print('bound')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(ROOT))
    assert out.stdout.strip() == "bound", out.stderr[-2000:]


@pytest.mark.integration
def test_a_queued_fan_out_is_marked_until_done_and_recovery_leaves_it_alone(
        rt: Runtime, redis_url: str, local: Scripted) -> None:
    """Distributed, a fan-out waiting in the queue (a backlog) is not a lost one: recovery must
    not enqueue it again (each copy is work the backlog waits behind). The mark lives in the
    broker's Redis, so a Redis that loses the queue loses the mark too."""
    import redis
    dist = dataclasses.replace(rt, settings=rt.settings.model_copy(update={"redis_url": redis_url}))
    core_runtime.configure(dist)
    try:
        url = dist.settings.database_url
        speaker, fr, room = _room_with_a_french_listener(url)
        uid = add_utterance(url, speaker, "Hello", "en", room)
        r = redis.Redis.from_url(redis_url)
        r.set(tasks.QUEUED_KEY + uid, "1")  # what enqueue_fanout leaves while it waits
        assert tasks.fanout_running(dist, uid)
        tasks.enqueue_fanout(uid)  # Celery is eager here: it runs at once, and is done
        assert not r.exists(tasks.QUEUED_KEY + uid) and not tasks.fanout_running(dist, uid)
        assert dist.emitter.events("translated-message")  # type: ignore[attr-defined]
    finally:
        core_runtime.configure(None)  # type: ignore[arg-type]
