"""A worker's heartbeat: its engine state in Redis every few seconds, read by the web's /health."""
from __future__ import annotations

import json
import logging
import socket
import threading

from core.naming import WORKER_HEARTBEAT_KEY
from core.runtime import Runtime

logger = logging.getLogger(__name__)


def start_heartbeat(rt: Runtime, interval_s: float = 5.0) -> None:
    """Publish this worker's engine state to Redis every `interval_s` seconds (for /health)."""
    if not rt.settings.redis_url:
        return
    import redis
    r = redis.Redis.from_url(rt.settings.redis_url, socket_timeout=2)
    key = WORKER_HEARTBEAT_KEY + socket.gethostname() + f":{threading.get_native_id()}"

    def beat() -> None:
        while True:
            try:
                r.set(key, json.dumps({"translation": rt.registry.status()}), ex=int(interval_s * 3))
            except Exception:
                logger.warning("worker heartbeat failed", exc_info=True)
            threading.Event().wait(interval_s)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
