"""Synthesized audio kept by (engine, voice, language, text), bounded in bytes (LRU, cachetools)."""
from __future__ import annotations

import threading

from cachetools import LRUCache

from engines.tts.base import Synthesis

Key = tuple[str, str, str, str]


class TTSCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.hits = self.misses = 0
        self._items: LRUCache[Key, Synthesis] = LRUCache(max_bytes, getsizeof=lambda s: len(s.wav))
        self._lock = threading.Lock()  # cachetools caches are not thread-safe

    @property
    def bytes(self) -> int:
        return int(self._items.currsize)

    def get(self, key: Key) -> Synthesis | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
            else:
                self.hits += 1
            return item

    def put(self, key: Key, item: Synthesis) -> None:
        if len(item.wav) > self.max_bytes:
            return  # larger than the whole cache: not kept
        with self._lock:
            self._items[key] = item

    def __len__(self) -> int:
        return len(self._items)
