"""Translate one utterance for everyone who needs it and send each listener their message.

Listeners are grouped by (language, engine) and each group costs one translation, however many
people are in it. A listener whose language is the source gets the original with no engine call.
Each message has a stable id; a Delivery row is written once a listener's message is sent, so a
task run again after a crash (acks_late) skips whoever already has it.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import session_scope
from core.models import Delivery, Participant, Translation, User, Utterance, now_ms
from core.naming import own_room, user_room
from engines.errors import EngineError
from workers.runtime import Runtime

logger = logging.getLogger(__name__)


class RetryableFanoutError(Exception):
    """A translation failed in a way that may pass; the task should be tried again."""


@dataclass
class Plan:
    """What one fan-out has to do, read in one short transaction."""

    utterance: dict[str, Any]
    groups: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    solo_pending: bool = False


def _plan(s: Session, utterance_id: str) -> Plan | None:
    u = s.get(Utterance, utterance_id)
    if u is None:
        return None
    speaker = s.get(User, u.speaker_id)
    done = set(s.scalars(select(Delivery.user_id).where(Delivery.utterance_id == u.id)))
    plan = Plan({"id": u.id, "room_id": u.room_id, "speaker_id": u.speaker_id, "text": u.text,
                 "source": u.source_lang, "solo": u.solo_target_lang, "received": u.received_at,
                 "speech_end": u.speech_end_at,
                 "speaker_name": speaker.display_name if speaker else "",
                 "solo_engine": speaker.translation_engine if speaker else "local",
                 "tts": {}})  # listener id → (voice, engine), for those with TTS on
    if u.room_id:
        rows = s.execute(select(Participant.user_id, Participant.language, User.translation_engine,
                                User.tts_enabled, User.voice, User.tts_engine)
                         .join(User, User.id == Participant.user_id)
                         .where(Participant.room_id == u.room_id, Participant.left_at.is_(None),
                                Participant.user_id != u.speaker_id)).all()
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for uid, lang, engine, tts_on, voice, tts_engine in rows:
            if uid not in done:
                groups[(lang, "" if lang == u.source_lang else engine)].append(uid)
                if tts_on:
                    plan.utterance["tts"][uid] = (voice or "", tts_engine)
        # Same-language listeners need no engine: send theirs first.
        plan.groups = dict(sorted(groups.items(), key=lambda kv: kv[0][0] != u.source_lang))
    plan.solo_pending = bool(u.solo_target_lang) and u.speaker_id not in done
    return plan


def _record(rt: Runtime, utterance_id: str, user_ids: list[str], kind: str) -> None:
    with session_scope(rt.settings.database_url) as s:
        for uid in user_ids:
            s.merge(Delivery(utterance_id=utterance_id, user_id=uid, kind=kind))


def _translate(rt: Runtime, u: dict[str, Any], target: str, engine: str) -> tuple[str, float]:
    """The stored translation if a previous run made one, else a new one, stored."""
    url = rt.settings.database_url
    with session_scope(url) as s:
        row = s.scalars(select(Translation).where(Translation.utterance_id == u["id"],
                                                  Translation.target_lang == target,
                                                  Translation.engine == engine)).first()
        if row is not None:
            return row.text, row.elapsed_ms
    result = rt.registry.get(engine).translate(u["text"], u["source"], target)
    rt.metrics.inc("translations", engine)
    try:
        with session_scope(url) as s:
            s.add(Translation(utterance_id=u["id"], target_lang=target, engine=engine,
                              provider=result.engine, text=result.text, elapsed_ms=result.elapsed_ms))
    except IntegrityError:
        pass  # a concurrent run stored the same translation first; ours is equivalent
    return result.text, result.elapsed_ms


def _fail(rt: Runtime, u: dict[str, Any], target: str, users: list[str], exc: EngineError,
          kind: str) -> None:
    rt.metrics.inc("errors", "translation")
    message = (f"Could not translate {u['source']} → {target}: "
               f"{'no installed engine supports this pair' if not exc.retryable else 'the engine failed'}")
    speaker_to = user_room(u["room_id"], u["speaker_id"]) if u["room_id"] else own_room(u["speaker_id"])
    rt.emitter.emit("speech-error", message, to=speaker_to)
    for uid in users:
        to = own_room(uid) if kind == "solo" else user_room(u["room_id"], uid)
        rt.emitter.emit("translation-failed", {
            "id": f"{u['id']}:{target}", "utteranceId": u["id"], "originalText": u["text"],
            "sourceLang": u["source"], "targetLang": target, "fromUserId": u["speaker_id"],
            "speakerName": u["speaker_name"], "reason": message}, to=to)
    _record(rt, u["id"], users, "failed")


def fan_out(rt: Runtime, utterance_id: str, enqueued_at: float | None, *,
            final_attempt: bool = True) -> int:
    """Run one fan-out; returns how many messages it sent. Raises RetryableFanoutError when a
    translation failed for a reason that may pass and this is not the final attempt."""
    started = now_ms()
    with session_scope(rt.settings.database_url) as s:
        plan = _plan(s, utterance_id)
    if plan is None:
        logger.error("fan-out for an unknown utterance", extra={"utterance_id": utterance_id})
        return 0
    u = plan.utterance
    timings = {"speechEnd": u["speech_end"], "received": u["received"], "enqueued": enqueued_at,
               "started": started}
    jobs: list[Job] = [Job(lang, engine, users, "room") for (lang, engine), users in plan.groups.items()]
    if plan.solo_pending:
        jobs.append(Job(u["solo"], u["solo_engine"], [u["speaker_id"]], "solo"))
    # Listeners of the speaker's language need no engine: serve them first. Translations then run
    # side by side, so the last language's listeners do not wait for the other languages' engines.
    same = [j for j in jobs if j.target == u["source"]]
    translated = [j for j in jobs if j.target != u["source"]]
    results = [_run_job(rt, u, j, timings, final_attempt) for j in same]
    if len(translated) == 1:
        results.append(_run_job(rt, u, translated[0], timings, final_attempt))
    elif translated:
        results += _parallel([functools.partial(_run_job, rt, u, j, timings, final_attempt)
                              for j in translated])
    sent = sum(n for n, _ in results)
    if sent:
        rt.metrics.observe("fanout_latency_seconds", (now_ms() - u["received"]) / 1000.0)
    if any(retry for _, retry in results):
        raise RetryableFanoutError(utterance_id)
    return sent


@dataclass(frozen=True)
class Job:
    """One group of listeners who get the same text: a target language through one engine."""

    target: str
    engine: str
    users: list[str]
    kind: str


def _parallel(calls: list[Callable[[], tuple[int, bool]]]) -> list[tuple[int, bool]]:
    """Run calls on threads and collect their results. Plain threads rather than an executor:
    under eventlet (the embedded web process) they are green threads, while an executor's C
    SimpleQueue would block the hub."""
    results: list[tuple[int, bool]] = [(0, False)] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception:
            logger.exception("fan-out group failed")
            results[i] = (0, True)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _run_job(rt: Runtime, u: dict[str, Any], job: Job, timings: dict[str, Any],
             final_attempt: bool) -> tuple[int, bool]:
    """Translate (if needed) and send one group; returns (messages sent, should retry)."""
    try:
        if job.target == u["source"]:
            text, elapsed = u["text"], 0.0
        else:
            text, elapsed = _translate(rt, u, job.target, job.engine or "local")
    except EngineError as exc:
        if exc.retryable and not final_attempt:
            return 0, True
        _fail(rt, u, job.target, job.users, exc, job.kind)
        return 0, False
    stamp = dict(timings, translated=now_ms(), translationMs=round(elapsed, 2))
    return _send(rt, u, job.target, text, job.users, job.kind, stamp), False


def _send(rt: Runtime, u: dict[str, Any], target: str, text: str, users: list[str], kind: str,
          timings: dict[str, Any]) -> int:
    timings["emitted"] = now_ms()
    if kind == "solo":
        rt.emitter.emit("solo-translated", {
            "id": f"{u['id']}:solo:{target}", "utteranceId": u["id"], "originalText": u["text"],
            "translatedText": text, "sourceLang": u["source"], "targetLang": target,
            "speakerName": u["speaker_name"], "timings": timings}, to=own_room(u["speaker_id"]))
    else:
        for uid in users:
            rt.emitter.emit("translated-message", {
                "id": f"{u['id']}:{target}", "utteranceId": u["id"], "originalText": u["text"],
                "translatedText": text, "sourceLang": u["source"], "targetLang": target,
                "fromUserId": u["speaker_id"], "toUserId": uid, "speakerName": u["speaker_name"],
                "timings": timings}, to=user_room(u["room_id"], uid))
    _record(rt, u["id"], users, kind)
    rt.metrics.inc("messages", kind, len(users))
    speakers = [(uid, *u["tts"][uid]) for uid in users if uid in u["tts"]]
    if kind == "room" and speakers:
        _enqueue_tts(rt, u, target, text, speakers)
    return len(users)


def _enqueue_tts(rt: Runtime, u: dict[str, Any], target: str, text: str,
                 listeners: list[tuple[str, str, str]]) -> None:
    """After the captions: speech for listeners with TTS on, as its own task (Celery when
    distributed; a thread here when embedded, so captions never wait for audio)."""
    from workers.tasks import tts_audio
    args = (u["id"], u["room_id"], target, text, [list(x) for x in listeners])
    if rt.settings.distributed:
        tts_audio.delay(*args)
    else:
        threading.Thread(target=tts_audio.apply, kwargs={"args": args}, daemon=True).start()
