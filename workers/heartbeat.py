"""A worker's heartbeat: its engine state in Redis every few seconds, read by the web's /health."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any

from core.naming import WORKER_HEARTBEAT_KEY, WORKER_INDEX_KEY
from core.runtime import Runtime

logger = logging.getLogger(__name__)
FORGET_AFTER_S = 3600.0  # a name not heard of for this long leaves the index


def beat(r: Any, name: str, state: dict[str, Any], ttl_s: int) -> None:
    """One beat: the state under the worker's own key (gone `ttl_s` after its last beat), and its
    name in the index /health reads by; names long silent are dropped from it."""
    now = time.time()
    with r.pipeline() as p:
        p.set(WORKER_HEARTBEAT_KEY + name, json.dumps(state), ex=ttl_s)
        p.zadd(WORKER_INDEX_KEY, {name: now})
        p.zremrangebyscore(WORKER_INDEX_KEY, "-inf", now - FORGET_AFTER_S)
        p.execute()


def start_heartbeat(rt: Runtime, interval_s: float = 5.0) -> None:
    """Publish this worker's engine state to Redis every `interval_s` seconds (for /health)."""
    if not rt.settings.redis_url:
        return
    import redis
    r = redis.Redis.from_url(rt.settings.redis_url, socket_timeout=2)
    name = socket.gethostname() + f":{threading.get_native_id()}"

    def beat_forever() -> None:
        while True:
            try:
                beat(r, name, {"translation": rt.registry.status()}, int(interval_s * 3))
            except Exception:
                logger.warning("worker heartbeat failed", exc_info=True)
            threading.Event().wait(interval_s)

    threading.Thread(target=beat_forever, name="heartbeat", daemon=True).start()
