"""The web process's end of the Socket.IO message queue (distributed mode): every message a worker
or a web process emits reaches every web process through Redis, and each forwards it to its own
sockets. A message with a stable id (a translation, its failure notice, its speech) is forwarded to
each channel once: a worker killed after sending but before recording the delivery sends it again
when its task is redelivered, and the listener must not see it twice."""
from __future__ import annotations

import threading
from typing import Any

import socketio
from cachetools import TTLCache

# Events whose payload carries the message's stable id, and under which key.
ONCE = {"translated-message": "id", "solo-translated": "id", "translation-failed": "id",
        "tts-audio": "messageId"}
REMEMBER_S = 3600  # longer than any redelivery and its retries
REMEMBER_MAX = 200_000


class OnceRedisManager(socketio.RedisManager):  # type: ignore[misc]
    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, **kw)
        self._seen: TTLCache[tuple[str, str, str], bool] = TTLCache(REMEMBER_MAX, REMEMBER_S)
        self._seen_lock = threading.Lock()

    def _handle_emit(self, message: dict[str, Any]) -> Any:
        key = ONCE.get(str(message.get("event")))
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
