"""Translate one utterance for everyone who needs it and send each listener their message.

Listeners are grouped by (language, engine) and each group costs one translation, however many
people are in it (workers.plan). A listener whose language is the source gets the original with no
engine call. Each message has a stable id; a Delivery row is written once a listener's message is
sent, so a task run again after a crash (acks_late) skips whoever already has it.

Plain functions over a Runtime: they enqueue nothing. `fan_out` hands each group's speech job (for
listeners with TTS on) to the caller's `on_speech` as soon as that group's captions are sent, and
returns them all; the Celery task (workers.tasks) enqueues them.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import premium, usage, wire
from core.db import session_scope
from core.models import Delivery, Translation, Utterance, now_ms
from core.naming import own_room, speaker_channel, user_room
from core.runtime import Runtime
from engines.errors import EngineError
from engines.translation.base import Context
from engines.translation.base import Translation as Translated
from workers.plan import Job, Plan, plan

logger = logging.getLogger(__name__)


class RetryableFanoutError(Exception):
    """A translation failed in a way that may pass; the task should be tried again."""


@dataclass(frozen=True)
class SpeechJob:
    """Speech for the room listeners of one language who turned TTS on: (user, voice, engine)."""

    utterance_id: str
    room_id: str
    target: str
    text: str
    listeners: list[tuple[str, str, str]]
    source: str = ""  # the language it was said in
    speaker: str = ""
    at: float = 0.0  # when it was said (epoch ms): the order a voice room's track plays it in
    heard: bool = False  # spoken into a LiveKit microphone: the voice room heard the original


@dataclass
class Outcome:
    sent: int = 0
    speech: list[SpeechJob] = field(default_factory=list)
    retry: bool = False


def fan_out(rt: Runtime, utterance_id: str, enqueued_at: float | None, *,
            final_attempt: bool = True,
            on_speech: Callable[[SpeechJob], None] = lambda job: None) -> Outcome:
    """Run one fan-out: how many messages it sent and the speech to make for them (each also
    handed to `on_speech` right after its group's captions). Raises RetryableFanoutError when a
    translation failed for a reason that may pass and this is not the final attempt (what was sent
    before stays sent; the next run skips those listeners)."""
    started = now_ms()
    with session_scope(rt.settings.database_url) as s:
        p = plan(s, utterance_id, premium.policy(rt.settings))
    if p is None:
        logger.error("fan-out for an unknown utterance", extra={"utterance_id": utterance_id})
        return Outcome()
    u = p.utterance
    for uid, kind, chosen, why in p.refused:
        _tell_refused(rt, uid, kind, chosen, why)
    u["unrecorded"] = _Countdown(len(p.jobs))  # the group recorded last marks it finished
    timings: wire.Timings = {"speechEnd": u["speech_end"], "received": u["received"],
                             "enqueued": enqueued_at, "started": started}
    # Listeners of the speaker's language need no engine: serve them first. Translations then run
    # side by side, so the last language's listeners do not wait for the other languages' engines.
    same = [j for j in p.jobs if j.target == u["source"]]
    translated = [j for j in p.jobs if j.target != u["source"]]
    run = functools.partial(_run_job, rt, p, timings=timings, final_attempt=final_attempt,
                            on_speech=on_speech)
    results = [run(j) for j in same]
    _prefetch(rt, u, translated)
    if len(translated) == 1:
        results.append(run(translated[0]))
    elif translated:
        results += _parallel([functools.partial(run, j) for j in translated])
    total = Outcome(sum(r.sent for r in results), [j for r in results for j in r.speech])
    if total.sent:
        rt.metrics.observe("fanout_latency_seconds", (now_ms() - u["received"]) / 1000.0)
    if any(r.retry for r in results):
        raise RetryableFanoutError(utterance_id)
    if not p.jobs:  # nobody to serve (or all served before): finished all the same
        with session_scope(rt.settings.database_url) as s:
            _finished(s, utterance_id)
    return total


class _Countdown:
    """How many groups have yet to record their deliveries; thread-safe."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._lock = threading.Lock()

    def one_done(self) -> bool:
        """Count one group recorded; True for the last."""
        with self._lock:
            self.n -= 1
            return self.n == 0


def _finished(s: Any, utterance_id: str) -> None:
    """Every listener has their message or was told it failed: nothing left to resume."""
    s.execute(update(Utterance).where(Utterance.id == utterance_id).values(fanned_out_at=now_ms()))


def _parallel(calls: list[Callable[[], Outcome]]) -> list[Outcome]:
    """Run calls on threads and collect their results. Plain threads rather than an executor:
    under eventlet (the embedded web process) they are green threads, while an executor's C
    SimpleQueue would block the hub."""
    results = [Outcome() for _ in calls]

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception:
            logger.exception("fan-out group failed")
            results[i] = Outcome(retry=True)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _run_job(rt: Runtime, p: Plan, job: Job, *, timings: wire.Timings, final_attempt: bool,
             on_speech: Callable[[SpeechJob], None]) -> Outcome:
    """Translate (if needed) and send one group."""
    u = p.utterance
    try:
        if job.target == u["source"]:
            text, elapsed = u["text"], 0.0
        else:
            text, elapsed = _translate(rt, u, job.target, job.engine or "local", job.users)
    except EngineError as exc:
        if exc.retryable and not final_attempt:
            return Outcome(retry=True)
        _fail(rt, u, job, exc)
        return Outcome()
    stamp: wire.Timings = {**timings, "translated": now_ms(), "translationMs": round(elapsed, 2)}
    sent = _send(rt, u, job, text, stamp)
    listeners = [(uid, *p.speech[uid]) for uid in job.users if uid in p.speech]
    speech = [SpeechJob(u["id"], u["room_id"], job.target, text, listeners, u["source"],
                        u["speaker_id"], float(u["speech_end"] or u["received"]),
                        bool(u.get("heard")))] \
        if job.kind == "room" and listeners else []
    for s in speech:
        on_speech(s)
    return Outcome(sent, speech)


def _context(u: dict[str, Any]) -> Context:
    return Context(previous=u.get("previous", ()), glossary=u.get("glossary", ()))


def _prefetch(rt: Runtime, u: dict[str, Any], jobs: list[Job]) -> None:
    """Engines that translate several targets in one request (a premium provider) get all of an
    utterance's targets at once; the jobs then find their translation stored. A failure here
    changes nothing: each job translates on its own as usual."""
    by_engine: dict[str, dict[str, list[str]]] = {}
    for j in jobs:
        by_engine.setdefault(j.engine or "local", {}).setdefault(j.target, []).extend(j.users)
    for engine, targets in by_engine.items():
        try:
            _prefetch_one(rt, u, engine, targets)
        except Exception:  # only the batching is lost: each job translates on its own
            logger.exception("translation prefetch failed", extra={"utterance_id": u["id"]})


def _prefetch_one(rt: Runtime, u: dict[str, Any], engine: str, targets: dict[str, list[str]]) -> None:
    """One engine's targets (each with its listeners) in one request, stored; nothing when it
    does not batch."""
    translator = rt.registry.get(engine)
    if len(set(targets)) < 2 or not (translator.batches or any(
            getattr(p, "batches", False) for p in getattr(translator, "providers", ()))):
        return
    todo = [t for t in dict.fromkeys(targets) if _stored(rt, u["id"], t, engine) is None]
    if len(todo) < 2:
        return
    try:
        results = translator.translate_many(u["text"], u["source"], todo, _context(u))
    except EngineError:
        return
    for target, result in results.items():
        _keep(rt, u, target, engine, result, targets.get(target, []))


def _stored(rt: Runtime, utterance_id: str, target: str, engine: str) -> tuple[str, float] | None:
    with session_scope(rt.settings.database_url) as s:
        row = s.scalars(select(Translation).where(Translation.utterance_id == utterance_id,
                                                  Translation.target_lang == target,
                                                  Translation.engine == engine)).first()
        return (row.text, row.elapsed_ms) if row is not None else None


def _keep(rt: Runtime, u: dict[str, Any], target: str, engine: str, result: Translated,
          users: list[str]) -> None:
    """Store a new translation (once) and meter what a premium provider billed for it: to the
    listeners it was made for, shared among them (who chose the engine pays; core.premium)."""
    rt.metrics.inc("translations", engine)
    try:
        with session_scope(rt.settings.database_url) as s:
            s.add(Translation(utterance_id=u["id"], target_lang=target, engine=engine,
                              provider=result.engine, text=result.text, elapsed_ms=result.elapsed_ms))
    except IntegrityError:
        return  # a concurrent run stored the same translation first; ours is equivalent
    payers = users or [u["speaker_id"]]
    for unit, amount in result.usage.items():
        for uid in payers:
            usage.record(rt.settings.database_url, result.engine, unit, amount / len(payers),
                         u["room_id"], uid)


def _translate(rt: Runtime, u: dict[str, Any], target: str, engine: str,
               users: list[str]) -> tuple[str, float]:
    """The stored translation if a previous run (or the prefetch) made one, else a new one, stored."""
    stored = _stored(rt, u["id"], target, engine)
    if stored is not None:
        return stored
    result = rt.registry.get(engine).translate(u["text"], u["source"], target, _context(u))
    _keep(rt, u, target, engine, result, users)
    return result.text, result.elapsed_ms


def _record(rt: Runtime, u: dict[str, Any], user_ids: list[str], kind: str) -> None:
    """The group's deliveries; the last group's transaction also marks the fan-out finished (one
    write, not one more). A group that raised or waits for a retry never counts, so an utterance
    is finished only when every group is."""
    last = u["unrecorded"].one_done() if "unrecorded" in u else False
    with session_scope(rt.settings.database_url) as s:
        for uid in user_ids:
            s.merge(Delivery(utterance_id=u["id"], user_id=uid, kind=kind))
        if last:
            _finished(s, u["id"])


def _caption(u: dict[str, Any], target: str, *, solo: bool = False) -> wire.Caption:
    """What each message of this utterance in `target` carries (core.wire.caption)."""
    return wire.caption(message=wire.message_id(u["id"], target, solo=solo), utterance_id=u["id"],
                        utterance_key=u["key"], part=u["part"], original=u["text"],
                        source=u["source"], target=target, speaker_name=u["speaker_name"])


def _fail(rt: Runtime, u: dict[str, Any], job: Job, exc: EngineError) -> None:
    rt.metrics.inc("errors", "translation")
    message = (f"Could not translate {u['source']} → {job.target}: "
               f"{'no installed engine supports this pair' if not exc.retryable else 'the engine failed'}")
    rt.emitter.emit("speech-error", message, to=speaker_channel(u["speaker_id"], u["room_id"]))
    failed = wire.translation_failed(_caption(u, job.target), u["speaker_id"], message)
    for uid in job.users:
        to = own_room(uid) if job.kind == "solo" else user_room(u["room_id"], uid)
        rt.emitter.emit("translation-failed", failed, to=to)
    _record(rt, u, job.users, "failed")


def _send(rt: Runtime, u: dict[str, Any], job: Job, text: str, timings: wire.Timings) -> int:
    timings["emitted"] = now_ms()
    if job.kind == "solo":
        rt.emitter.emit("solo-translated",
                        wire.solo_translated(_caption(u, job.target, solo=True), text, timings),
                        to=own_room(u["speaker_id"]))
    else:
        c = _caption(u, job.target)
        for uid in job.users:
            rt.emitter.emit("translated-message",
                            wire.translated_message(c, text, u["speaker_id"], uid, timings),
                            to=user_room(u["room_id"], uid))
    _record(rt, u, job.users, job.kind)
    rt.metrics.inc("messages", job.kind, len(job.users))
    return len(job.users)


_told: dict[tuple[str, str, str], float] = {}
TELL_EVERY_S = 3600.0  # a listener whose premium engine is refused is told so once an hour


def _tell_refused(rt: Runtime, uid: str, kind: str, chosen: str, why: str) -> None:
    """Tell a listener (once an hour per kind and reason, in this process) that their premium
    engine was refused and the local one used: `speech-notice {code, kind, engine, from, message}`."""
    now = time.monotonic()
    if now - _told.get((uid, kind, why), -TELL_EVERY_S) < TELL_EVERY_S:
        return
    if len(_told) > 10_000:
        _told.clear()
    _told[(uid, kind, why)] = now
    rt.emitter.emit("speech-notice", wire.speech_notice(why, "local", chosen,
                                                        premium.message(kind, chosen, why), kind),
                    to=own_room(uid))
