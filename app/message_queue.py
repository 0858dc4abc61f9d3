"""The web process's end of the Socket.IO message queue (distributed mode): every message a worker
or a web process emits reaches every web process through Redis, and each forwards it to its own
sockets. A message with a stable id (a translation, its failure notice, its speech) is forwarded to
each channel once: a worker killed after sending but before recording the delivery sends it again
when its task is redelivered, and the listener must not see it twice.

Pub/sub keeps nothing: whatever was published while this process was not subscribed (Redis
restarted, the connection dropped) is gone. So when the listener subscribes again it tells every
socket of this process to `resync`: the page reads what it missed from the room's history, where
each translation is stored before it is sent. It retries every second or two, not python-socketio's
growing back-off of up to a minute."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import socketio
from cachetools import TTLCache

from core import wire

REMEMBER_S = 3600  # longer than any redelivery and its retries
REMEMBER_MAX = 200_000
RETRY_S = (0.5, 1.0, 2.0)  # then every 2 s

logger = logging.getLogger(__name__)


class OnceRedisManager(socketio.RedisManager):  # type: ignore[misc]
    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, **kw)
        self._seen: TTLCache[tuple[str, str, str], bool] = TTLCache(REMEMBER_MAX, REMEMBER_S)
        self._seen_lock = threading.Lock()

    def _handle_emit(self, message: dict[str, Any]) -> Any:
        key = wire.STABLE_IDS.get(str(message.get("event")))  # where its stable id is
        data = message.get("data")
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if key and isinstance(data, dict) and data.get(key):
            seen = (str(message["event"]), str(data[key]), str(message.get("room")))
            with self._seen_lock:
                if seen in self._seen:
                    return None
                self._seen[seen] = True
        return super()._handle_emit(message)

    def _redis_listen_with_retries(self) -> Iterator[Any]:
        failures = 0
        lost_at: float | None = None
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                if lost_at is not None:
                    self.resync(lost_at)
                    lost_at, failures = None, 0
                yield from self.pubsub.listen()
            except Exception as exc:
                if lost_at is None:
                    lost_at = time.time() * 1000.0
                    logger.warning("lost the message queue; resubscribing",
                                   extra={"error": type(exc).__name__})
                time.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1

    def resync(self, lost_at: float) -> None:
        """Tell this process's sockets that messages may have been lost since `lost_at` (epoch
        ms): they read the room's history to fill in (each message id once)."""
        logger.info("message queue back; sockets told to resync",
                    extra={"down_ms": round(time.time() * 1000.0 - lost_at)})
        resync: wire.Resync = {"since": lost_at}
        super()._handle_emit({"method": "emit", "event": "resync", "data": [resync],
                              "namespace": "/", "room": None, "skip_sid": None, "callback": None})
