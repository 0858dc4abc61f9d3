"""Celery tasks. They take ids, never objects; the rows they read were committed first."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import shared_task

from workers.fanout import RetryableFanoutError, fan_out
from workers.runtime import Runtime, runtime

logger = logging.getLogger(__name__)
MAX_RETRIES = 3

_local_guard = threading.Lock()
_local_locks: dict[str, threading.Lock] = {}


class Busy(Exception):
    """Another run of the same utterance holds the lock."""


@contextmanager
def utterance_lock(rt: Runtime, utterance_id: str) -> Iterator[None]:
    """At most one fan-out per utterance at a time, so a duplicate enqueue cannot double-send.

    Distributed: a Redis key with a TTL (a worker killed while holding it frees it on expiry).
    Embedded: a per-utterance lock in this process; the second run waits for the first.
    """
    if rt.settings.redis_url:
        import redis
        r = redis.Redis.from_url(rt.settings.redis_url, socket_timeout=2)
        key = f"lt:lock:fanout:{utterance_id}"
        if not r.set(key, "1", nx=True, px=int(os.environ.get("FANOUT_LOCK_TTL_MS", "15000"))):
            raise Busy(utterance_id)
        try:
            yield
        finally:
            r.delete(key)
        return
    with _local_guard:
        lock = _local_locks.setdefault(utterance_id, threading.Lock())
    with lock:
        yield
    with _local_guard:
        _local_locks.pop(utterance_id, None)


def _retry(task: Any, countdown: float, **kw: Any) -> Exception:
    if task.request.is_eager:
        time.sleep(countdown)  # eager retries run at once; keep the back-off
    return task.retry(countdown=countdown, **kw)  # type: ignore[no-any-return]


@shared_task(bind=True, name="fanout", max_retries=MAX_RETRIES, acks_late=True)
def fanout(self: Any, utterance_id: str, enqueued_at: float | None = None) -> int:
    """Translate an utterance once per (language, engine) and send every listener their message."""
    rt = runtime()
    try:
        with utterance_lock(rt, utterance_id):
            return fan_out(rt, utterance_id, enqueued_at,
                           final_attempt=self.request.retries >= MAX_RETRIES)
    except Busy:
        raise _retry(self, 1.0, max_retries=60) from None
    except RetryableFanoutError:
        raise _retry(self, min(2 ** self.request.retries, 8)) from None


@shared_task(name="tts_audio", acks_late=True, ignore_result=True)
def tts_audio(utterance_id: str, room_id: str, target: str, text: str,
              listeners: list[list[str]]) -> int:
    """Synthesize a translated message once per (engine, voice) and send `tts-audio`."""
    from workers.tts import speak_for
    return speak_for(runtime(), utterance_id, room_id, target, text,
                     [(a, b, c) for a, b, c in listeners])
