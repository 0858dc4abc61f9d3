"""unit: the Whisper model's gate (engines.stt.fair) serves speakers in turn, finals first."""
from __future__ import annotations

import threading
import time

import pytest

from engines.stt.fair import FairGate

pytestmark = pytest.mark.unit


def test_the_speaker_served_longest_ago_goes_first_not_whoever_asked_first() -> None:
    gate = FairGate()
    for _ in range(3):  # "flood" has had the model three times just now
        assert gate.acquire("flood")
        gate.release()
    assert gate.acquire("holder")
    got: list[str] = []

    def want(who: str) -> None:
        if gate.acquire(who):
            got.append(who)
            gate.release()

    waiting = []
    for who in ("flood", "ann", "flood", "bob"):  # flood asks first and again
        waiting.append(threading.Thread(target=want, args=(who,)))
        waiting[-1].start()
        time.sleep(0.05)
    gate.release()
    for t in waiting:
        t.join(2)
    assert got[:2] == ["ann", "bob"] and got[2:] == ["flood", "flood"], got


def test_finals_go_before_interims_and_a_stale_interim_is_skipped() -> None:
    gate = FairGate()
    assert gate.acquire("holder")
    got: list[str] = []

    def want(who: str, urgent: bool, max_wait: float | None) -> None:
        if gate.acquire(who, urgent=urgent, max_wait=max_wait):
            got.append(who)
            gate.release()

    interim = threading.Thread(target=want, args=("interim", False, 2.0))
    interim.start()
    time.sleep(0.05)
    final = threading.Thread(target=want, args=("final", True, None))
    final.start()
    time.sleep(0.05)
    late = threading.Thread(target=want, args=("stale", False, 0.05))
    late.start()
    late.join(2)
    assert got == [] and gate.skipped == 1  # gave up while the holder held on
    gate.release()
    for t in (interim, final):
        t.join(2)
    assert got == ["final", "interim"]
