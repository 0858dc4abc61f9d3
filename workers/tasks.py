"""The Celery face of the workers: tasks take ids, never objects (the rows they read were
committed first), and call plain functions (workers.fanout, workers.tts) that enqueue nothing.

`enqueue_fanout` is what the web process calls: a Celery message when distributed; embedded, the
same task applied in this process on a thread of its own (green under eventlet), Celery running
its retries eagerly.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery.exceptions import Retry

from core.models import now_ms
from core.runtime import Runtime, runtime
from workers.celery_app import celery as celery  # the app reads it from here
from workers.fanout import RetryableFanoutError, SpeechJob, fan_out

logger = logging.getLogger(__name__)
MAX_RETRIES = 3
BUSY_RETRIES = 60  # a second apart: how long a duplicate waits for the run holding the lock

_local_guard = threading.Lock()
_local_locks: dict[str, tuple[threading.Lock, int]] = {}  # utterance → (its lock, runs using it)


class Busy(Exception):
    """Another run of the same utterance holds the lock."""


@contextmanager
def utterance_lock(rt: Runtime, utterance_id: str) -> Iterator[None]:
    """At most one fan-out per utterance at a time, so a duplicate enqueue cannot double-send.

    Distributed: a redis-py Lock with a TTL (a worker killed while holding it frees it on expiry;
    a run that outlived its TTL does not release the next holder's lock). Embedded: a
    per-utterance lock in this process; the second run waits for the first.
    """
    if rt.settings.redis_url:
        from redis.exceptions import LockError
        lock = _redis(rt.settings.redis_url).lock(f"lt:lock:fanout:{utterance_id}",
                                                  timeout=rt.settings.fanout.lock_ttl_ms / 1000,
                                                  blocking=False)
        if not lock.acquire():
            raise Busy(utterance_id)
        try:
            yield
        finally:
            try:
                lock.release()
            except LockError:
                logger.warning("the fan-out outlived its lock", extra={"utterance_id": utterance_id})
        return
    with _local_guard:  # counted: the lock goes only when no run holds or awaits it
        lock_here, users = _local_locks.get(utterance_id, (threading.Lock(), 0))
        _local_locks[utterance_id] = (lock_here, users + 1)
    try:
        with lock_here:
            yield
    finally:
        with _local_guard:
            lock_here, users = _local_locks[utterance_id]
            if users <= 1:
                del _local_locks[utterance_id]
            else:
                _local_locks[utterance_id] = (lock_here, users - 1)


_clients: dict[str, Any] = {}
QUEUED_KEY = "lt:queued:fanout:"


def _redis(url: str) -> Any:
    """One client (a connection pool) per process for the locks, not one per fan-out."""
    if url not in _clients:
        import redis
        _clients[url] = redis.Redis.from_url(url, socket_timeout=2)
    return _clients[url]


def fanout_running(rt: Runtime, utterance_id: str) -> bool:
    """Whether a run of this utterance's fan-out holds (or, embedded, awaits) its lock now, or
    (distributed) it waits in the queue or for a retry."""
    if rt.settings.redis_url:
        return bool(_redis(rt.settings.redis_url).exists(f"lt:lock:fanout:{utterance_id}",
                                                         QUEUED_KEY + utterance_id))
    with _local_guard:
        return utterance_id in _local_locks


def _retry(task: Any, countdown: float, **kw: Any) -> Exception:
    if task.request.is_eager:
        time.sleep(countdown)  # Celery runs an eager retry at once; keep the back-off
    return task.retry(countdown=countdown, **kw)  # type: ignore[no-any-return]


@celery.task(bind=True, name="fanout", max_retries=MAX_RETRIES, acks_late=True)
def fanout(self: Any, utterance_id: str, enqueued_at: float | None = None) -> int:
    """Translate an utterance once per (language, engine), send every listener their message,
    then enqueue speech for those who want it."""
    rt = runtime()
    retrying = False
    try:
        try:
            with utterance_lock(rt, utterance_id):
                outcome = fan_out(rt, utterance_id, enqueued_at,
                                  final_attempt=self.request.retries >= MAX_RETRIES,
                                  on_speech=lambda job: enqueue_speech(rt, job))
        except Busy:
            raise _retry(self, 1.0, max_retries=BUSY_RETRIES) from None
        except RetryableFanoutError:
            raise _retry(self, min(2 ** self.request.retries, 8)) from None
    except Retry:
        retrying = True  # it runs again: still queued
        raise
    finally:
        if rt.settings.redis_url and not retrying:
            _unqueued(rt.settings.redis_url, utterance_id)
    return outcome.sent


def _unqueued(redis_url: str, utterance_id: str) -> None:
    try:
        _redis(redis_url).delete(QUEUED_KEY + utterance_id)
    except Exception:  # noqa: BLE001 - it expires; recovery then looks at it again
        logger.warning("could not clear a fan-out's queued mark", extra={"utterance_id": utterance_id})


@celery.task(name="tts_audio", acks_late=True, ignore_result=True)
def tts_audio(utterance_id: str, room_id: str, target: str, text: str,
              listeners: list[list[str]], source: str = "", speaker: str = "",
              at: float = 0.0, heard: bool = False) -> int:
    """Speak a translated message: on the voice room's `tts-<lang>` track for listeners in it,
    else synthesized once per (engine, voice) and sent as `tts-audio`."""
    from workers.tts import speak_for
    return speak_for(runtime(), utterance_id, room_id, target, text,
                     [(a, b, c) for a, b, c in listeners], source=source, speaker=speaker, at=at,
                     heard=heard)


def enqueue_speech(rt: Runtime, job: SpeechJob) -> None:
    """Right after a group's captions: its speech as a task of its own (Celery when distributed;
    a thread here when embedded, so captions never wait for audio). A failure to enqueue costs
    that audio only, never the captions or their retry."""
    args = (job.utterance_id, job.room_id, job.target, job.text, [list(x) for x in job.listeners],
            job.source, job.speaker, job.at, job.heard)
    try:
        if rt.settings.distributed:
            tts_audio.delay(*args)
        else:
            threading.Thread(target=tts_audio.apply, kwargs={"args": args}, daemon=True).start()
    except Exception:
        rt.metrics.inc("errors", "tts")
        logger.warning("could not enqueue speech", exc_info=True,
                       extra={"utterance_id": job.utterance_id, "language": job.target})


@celery.task(name="interim_translation", ignore_result=True)
def interim_translation(room_id: str, speaker_id: str, utterance_key: str, part: int, text: str,
                        source: str) -> int:
    """Translate the words not yet committed for the room's listeners of other languages."""
    from workers.interim import translate_interim
    return translate_interim(runtime(), room_id, speaker_id, utterance_key, part, text, source)


INTERIM_EXPIRES_S = 5.0  # a translated interim older than this is not worth showing


def enqueue_interim(room_id: str, speaker_id: str, utterance_key: str, part: int, text: str,
                    source: str) -> None:
    """Hand a translated interim on: a Celery message (dropped unless taken within a few
    seconds) when distributed; a thread of its own here when embedded. Best effort."""
    args = (room_id, speaker_id, utterance_key, part, text, source)
    if runtime().settings.distributed:
        interim_translation.apply_async(args, expires=INTERIM_EXPIRES_S)
    else:
        threading.Thread(target=interim_translation.apply, kwargs={"args": args},
                         daemon=True).start()


def enqueue_fanout(utterance_id: str) -> None:
    """Hand an utterance's fan-out on: a Celery message when distributed; embedded, the task run
    here on its own (green) thread so the caller returns at once."""
    enqueued = now_ms()
    settings = runtime().settings
    if settings.distributed:
        # Marked queued in the broker's own Redis until the task is done: recovery leaves a
        # queued one alone (a backlog is not a loss), and the mark goes with the queue if Redis
        # loses it.
        r = _redis(settings.redis_url)
        r.set(QUEUED_KEY + utterance_id, "1", ex=max(60, int(settings.fanout.resume_horizon_s)))
        try:
            fanout.delay(utterance_id, enqueued)
        except Exception:
            _unqueued(settings.redis_url, utterance_id)
            raise
    else:
        threading.Thread(target=_run_here, args=(utterance_id, enqueued), daemon=True).start()


def _run_here(utterance_id: str, enqueued: float) -> None:
    """Embedded: Celery's apply() runs the task and its retries (with the task's back-off and
    retry count, so the last attempt reports failures)."""
    result = fanout.apply(args=(utterance_id, enqueued))
    if not result.successful():  # Celery has logged the exception with its traceback
        runtime().metrics.inc("errors", "fanout")
        logger.error("embedded fan-out failed", extra={"utterance_id": utterance_id})


# Bind the tasks now, in the importing thread. Celery finalizes an app lazily on first use and
# marks it finalized before binding its tasks, so two threads starting the first fan-outs at once
# (the embedded web process) could see an unbound task and fail (`request_stack` is None).
celery.finalize()
