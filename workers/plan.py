"""What one fan-out has to do, read in one short transaction: the utterance, its listeners grouped
by (language, engine) with whoever already has their message left out, and who wants speech."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.membership import present, said_at, said_at_sql, shared_since
from core.models import Delivery, Participant, Room, User, Utterance
from core.premium import PremiumPolicy

CONTEXT_UTTERANCES = 3  # the room's last few utterances, for providers that read context


@dataclass(frozen=True)
class Job:
    """One group of listeners who get the same text: a target language through one engine
    ("" when the target is the source: no engine). `kind` is "room" or "solo"."""

    target: str
    engine: str
    users: list[str]
    kind: str


@dataclass
class Plan:
    utterance: dict[str, Any]
    jobs: list[Job] = field(default_factory=list)
    # listener id → (voice, TTS engine), for room listeners with speech on
    speech: dict[str, tuple[str, str]] = field(default_factory=dict)
    # (listener id, kind, the premium engine they chose, why it was refused: core.premium)
    refused: list[tuple[str, str, str, str]] = field(default_factory=list)


def plan(s: Session, utterance_id: str, premium: PremiumPolicy | None = None) -> Plan | None:
    """The plan for `utterance_id`, or None if there is no such utterance. Listeners of the
    speaker's language come first (they need no engine); each (language, engine) is one job. With
    `premium`, a listener's premium translation or speech engine they may not use now (past their
    or the room's daily cap) is the local one."""
    u = s.get(Utterance, utterance_id)
    if u is None:
        return None
    speaker = s.get(User, u.speaker_id)
    done = set(s.scalars(select(Delivery.user_id).where(Delivery.utterance_id == u.id)))
    room = s.get(Room, u.room_id) if u.room_id else None
    out = Plan({"id": u.id, "room_id": u.room_id, "speaker_id": u.speaker_id, "text": u.text,
                "source": u.source_lang, "solo": u.solo_target_lang, "received": u.received_at,
                "speech_end": u.speech_end_at,
                # a segment of a spoken utterance: the page keeps an utterance's parts together
                "key": u.utterance_key or u.id, "part": u.part,
                # spoken into a LiveKit microphone (the agent's bridge keys): the room heard it
                "heard": (u.idempotency_key or "").startswith("agent:"),
                "speaker_name": speaker.display_name if speaker else "",
                "previous": (), "glossary": tuple(room.terms() if room else ())})
    readers = [u.speaker_id] if u.solo_target_lang else []  # who gets an engine's translation
    if u.room_id:
        rows = s.execute(select(Participant.user_id, Participant.language, User.translation_engine,
                                User.tts_enabled, User.voice, User.tts_engine)
                         .join(User, User.id == Participant.user_id)
                         .where(Participant.room_id == u.room_id,
                                Participant.user_id != u.speaker_id,
                                # those in the room when it was said (a resumed fan-out too)
                                present(u.room_id, Participant.user_id,
                                        said_at(u.engine, u.speech_end_at, u.received_at)))).all()
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for uid, lang, engine, tts_on, voice, tts_engine in rows:
            if premium is not None:
                engine = _allowed(premium, out, "translation", engine, uid, u.room_id)
                tts_engine = _allowed(premium, out, "tts", tts_engine, uid, u.room_id)
            if lang != u.source_lang:
                readers.append(uid)
            if uid not in done:
                groups[(lang, "" if lang == u.source_lang else engine)].append(uid)
                if tts_on:
                    out.speech[uid] = (voice or "", tts_engine)
        ordered = sorted(groups.items(), key=lambda kv: kv[0][0] != u.source_lang)
        out.jobs = [Job(lang, engine, users, "room") for (lang, engine), users in ordered]
        out.utterance["previous"] = _context(s, u, readers)
    if u.solo_target_lang and u.speaker_id not in done:
        solo_engine = speaker.translation_engine if speaker else "local"
        if premium is not None:
            solo_engine = _allowed(premium, out, "translation", solo_engine, u.speaker_id, u.room_id)
        out.jobs.append(Job(u.solo_target_lang, solo_engine, [u.speaker_id], "solo"))
    return out


def _allowed(premium: PremiumPolicy, out: Plan, kind: str, engine: str, uid: str,
             room_id: str | None) -> str:
    """The engine `uid` gets for `kind`: theirs, or the local one (noted in `out.refused`)."""
    used, why = premium.engine_for(kind, engine, uid, room_id)
    if why:
        out.refused.append((uid, kind, engine, why))
    return used


def _context(s: Session, u: Utterance, readers: list[str]) -> tuple[str, ...]:
    """The room's last few utterances in `u`'s language before it (oldest first) that every one of
    `readers` heard: said since the latest of their joins. One request may translate for all of
    them (a batching provider), so one context serves all; a newcomer gets none said before them,
    and nobody's words reach a translation for someone who was not there to hear them."""
    at = said_at(u.engine, u.speech_end_at, u.received_at)
    since = shared_since(s, str(u.room_id), readers, at)
    if since is None:
        return ()
    said = said_at_sql()
    texts = s.scalars(select(Utterance.text).where(
        Utterance.room_id == u.room_id, Utterance.received_at < u.received_at,
        Utterance.source_lang == u.source_lang, said >= since, said <= at)
        .order_by(Utterance.received_at.desc()).limit(CONTEXT_UTTERANCES))
    return tuple(reversed(list(texts)))
