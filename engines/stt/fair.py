"""One model, many speakers: a lock handed on in turn rather than to whoever grabs it first.

Every speaker's thread decodes on the same Whisper model, one decode at a time. A plain lock lets
a speaker whose audio arrives fastest take it again and again while the others wait; here the
waiting decodes are served by (finals before interims, the speaker served longest ago first,
then arrival), and an interim that would show after `max_wait` is not worth making (skipped: the
final still comes).
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Hashable


class FairGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._waiting: list[tuple[int, float, int]] = []
        self._served: dict[Hashable, float] = {}
        self._seq = itertools.count()
        self.skipped = 0  # interims not made because they waited too long

    def acquire(self, who: Hashable, *, urgent: bool = True, max_wait: float | None = None) -> bool:
        """Wait for this decode's turn; False (nothing held) if `max_wait` passed first."""
        deadline = None if max_wait is None else time.monotonic() + max_wait
        with self._cond:
            entry = (0 if urgent else 1, self._served.get(who, 0.0), next(self._seq))
            self._waiting.append(entry)
            while self._busy or min(self._waiting) != entry:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._waiting.remove(entry)
                    self.skipped += 1
                    self._cond.notify_all()
                    return False
                self._cond.wait(left)
            self._waiting.remove(entry)
            self._busy = True
            now = time.monotonic()
            self._served[who] = now
            if len(self._served) > 1000:  # speakers come and go: forget the long gone
                self._served = {k: t for k, t in self._served.items() if now - t < 60}
            return True

    def release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def __enter__(self) -> FairGate:
        self.acquire(threading.get_ident())
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
