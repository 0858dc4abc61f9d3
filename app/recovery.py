"""Fan-outs that never finished are handed on again.

An utterance is stored before its fan-out is enqueued, and its fan-out marks it finished
(`fanned_out_at`) once every listener has their message or was told it failed. What can come in
between: the embedded process killed with fan-outs on its green threads, a Redis restart that
takes the Celery queue with it, a worker killed after its task's retries, a failed enqueue. This
process looks every few seconds for utterances handed on `RESUME_AFTER_S` ago and not finished,
and enqueues them again; at start-up, embedded, every unfinished one at once (nothing else can be
running them). Listeners already served are skipped (Delivery rows), so nobody gets one twice.
Distributed, one web process sweeps at a time (a Redis lock).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select, update

from core.db import session_scope
from core.models import Utterance, now_ms
from core.runtime import runtime
from core.settings import Settings
from workers.tasks import enqueue_fanout, fanout_running

logger = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0
BATCH = 200


def resume_unfinished(settings: Settings, *, everything: bool = False) -> int:
    """Enqueue again the fan-outs that should have finished by now (`everything`: all unfinished
    within the horizon, whatever their age); returns how many."""
    now = now_ms()
    due = now - settings.fanout.resume_after_s * 1000.0
    horizon = now - settings.fanout.resume_horizon_s * 1000.0
    with session_scope(settings.database_url) as s:
        q = select(Utterance.id).where(Utterance.fanned_out_at.is_(None),
                                       Utterance.received_at > horizon)
        if not everything:
            q = q.where(Utterance.received_at < due,
                        or_(Utterance.enqueued_at.is_(None), Utterance.enqueued_at < due))
        ids = list(s.scalars(q.order_by(Utterance.received_at).limit(BATCH)))
        if ids:  # the next sweep waits RESUME_AFTER_S for these again
            s.execute(update(Utterance).where(Utterance.id.in_(ids)).values(enqueued_at=now))
    rt = runtime()
    resumed = [i for i in ids if not fanout_running(rt, i)]  # a slow run is still at it
    for utterance_id in resumed:
        enqueue_fanout(utterance_id)
    if resumed:
        logger.warning("resumed unfinished fan-outs", extra={"count": len(resumed)})
    return len(resumed)


def sweep_forever(settings: Settings, sleep: Callable[[float], Any]) -> None:
    """The web process's background sweep; an error in one sweep is logged and the next runs."""
    import redis
    lock = (redis.Redis.from_url(settings.redis_url, socket_timeout=2)
            if settings.distributed else None)
    everything = not settings.distributed
    while True:
        try:
            # Distributed: one web process per sweep (the lock outlives the sweep, then expires).
            if lock is None or lock.set("lt:lock:resume", "1", nx=True,
                                        px=int(SWEEP_EVERY_S * 900)):
                resume_unfinished(settings, everything=everything)
            everything = False
        except Exception:
            logger.exception("resuming fan-outs failed; trying again")
        sleep(SWEEP_EVERY_S)
