"""e2e: faults. A worker SIGKILLed mid fan-out, and Apertium killed while serving."""
from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from tests import support
from tests.support import Peer, Service, room_with

pytestmark = pytest.mark.e2e


def test_worker_killed_mid_fanout_every_listener_gets_each_translation_once(
        distributed: Service, peers: list[Peer]) -> None:
    speaker = Peer(distributed.url, "Ana", "en").connect()
    en = Peer(distributed.url, "Ben", "en").connect()
    es = Peer(distributed.url, "Carla", "es").connect()
    fr = Peer(distributed.url, "Denis", "fr").connect()
    peers += [speaker, en, es, fr]
    code = speaker.create_room()
    for p in (speaker, en, es, fr):
        p.join(code)
    apy = support.apy_pid(distributed.url)
    # Freeze Apertium so the worker is certainly mid fan-out: English listeners are served (no
    # engine needed), the Spanish and French translations hang until the worker is killed.
    os.kill(apy, signal.SIGSTOP)
    sentences = [f"Sentence number {i} is about the weather." for i in range(6)]
    for s in sentences:
        assert speaker.say(s, "en")["ok"]
    en.wait_for("translated-message", timeout=20)
    assert es.got("translated-message") == [] and fr.got("translated-message") == []
    web, worker = distributed.procs
    worker.kill(signal.SIGKILL)
    os.kill(apy, signal.SIGCONT)  # already gone with its parent (engines.children); harmless if not
    distributed.procs.append(support.start_worker(distributed.env, distributed.log_dir, "worker2"))
    for p in (en, es, fr):
        p.wait_for("translated-message", count=len(sentences), timeout=90)
    time.sleep(2.0)  # let any duplicate surface
    for p in (en, es, fr):
        ids = Counter(m["id"] for m in p.got("translated-message"))
        assert len(ids) == len(sentences), (p.user["displayName"], ids)
        assert max(ids.values()) == 1, (p.user["displayName"], ids)
        texts = {m["originalText"] for m in p.got("translated-message")}
        assert texts == set(sentences)
    assert {m["targetLang"] for m in es.got("translated-message")} == {"es"}
    assert all("tiempo" in m["translatedText"] for m in es.got("translated-message"))


@pytest.mark.own_service
def test_apertium_killed_while_serving_is_restarted_and_next_utterance_translated(
        embedded: Service, peers: list[Peer]) -> None:
    a, b = room_with(embedded.url, peers, ("Ana", "en"), ("Bea", "es"))
    a.say("Good morning.", "en")
    assert b.wait_for("translated-message")[0]["translatedText"] == "Buenos días."
    old = support.apy_pid(embedded.url)
    os.kill(old, signal.SIGKILL)
    a.say("The weather is nice today.", "en")
    msgs = b.wait_for("translated-message", count=2, timeout=60)
    assert msgs[1]["translatedText"] == "El tiempo es bueno hoy."
    local = embedded.health()["engines"]["translation"]["local"]
    assert local["running"] and local["pid"] != old and local["restarts"] >= 1


@pytest.mark.own_service
def test_apertium_killed_while_idle_is_restarted_by_the_watchdog(embedded: Service) -> None:
    old = support.apy_pid(embedded.url)
    os.kill(old, signal.SIGKILL)
    support.wait_until(lambda: embedded.health()["engines"]["translation"]["local"]["pid"] != old
                       and embedded.health()["status"] == "ok", 30, "the watchdog to restart APY")
