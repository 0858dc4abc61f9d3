"""Synthesized audio kept by (engine, voice, language, text), bounded in bytes (LRU)."""
from __future__ import annotations

import threading
from collections import OrderedDict

from engines.tts.base import Synthesis

Key = tuple[str, str, str, str]


class TTSCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._items: OrderedDict[Key, Synthesis] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Synthesis | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: Key, item: Synthesis) -> None:
        if len(item.wav) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old.wav)
            self._items[key] = item
            self.bytes += len(item.wav)
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= len(dropped.wav)

    def __len__(self) -> int:
        return len(self._items)
