"""Keys that expire: in Redis when distributed (every web process shares them), in memory
otherwise (a cachetools TLRUCache: each key its own time to live, at most MAX_KEYS kept). Used for
replay protection on the bridge and for the agent's presence."""
from __future__ import annotations

import threading
import time
from typing import Any

from cachetools import TLRUCache

MAX_KEYS = 100_000


class ExpiringKeys:
    def __init__(self, redis_url: str, prefix: str) -> None:
        self.prefix = prefix
        # key → (value, ttl seconds); it expires ttl seconds after it was set
        self._mem: TLRUCache[str, tuple[str, float]] = TLRUCache(
            MAX_KEYS, ttu=lambda _key, item, now: now + item[1], timer=time.monotonic)
        self._lock = threading.Lock()  # cachetools caches are not thread-safe
        self._redis: Any = None
        if redis_url:
            import redis
            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, decode_responses=True)

    def put(self, key: str, ttl_s: float, value: str = "1", *, only_new: bool = False) -> bool:
        """Set `key` for `ttl_s` seconds; with `only_new`, only if absent. True if it was set."""
        if self._redis is not None:
            return bool(self._redis.set(self.prefix + key, value, px=int(ttl_s * 1000), nx=only_new))
        with self._lock:
            if only_new and key in self._mem:
                return False
            self._mem[key] = (value, ttl_s)
            return True

    def put_many(self, keys: list[str], ttl_s: float, value: str) -> None:
        if self._redis is not None:
            pipe = self._redis.pipeline()
            for key in keys:
                pipe.set(self.prefix + key, value, px=int(ttl_s * 1000))
            pipe.execute()
            return
        for key in keys:
            self.put(key, ttl_s, value)

    def get(self, key: str) -> str | None:
        if self._redis is not None:
            value = self._redis.get(self.prefix + key)
            return None if value is None else str(value)
        with self._lock:
            item = self._mem.get(key)
            return None if item is None else item[0]

    def delete(self, key: str) -> None:
        if self._redis is not None:
            self._redis.delete(self.prefix + key)
            return
        with self._lock:
            self._mem.pop(key, None)
