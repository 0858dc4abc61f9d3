"""Translated interims: the words a speaker has said but recognition has not committed yet, in
each listener's language, so a listener follows the speaker before the segment is final.

Best effort and cheap: sent to those in the room now (not the speaker, not listeners of the
speaker's language), translated once per (language, engine), never stored, and dropped as soon as
the segment they belong to is committed (its caption replaces them). A premium engine translates
interims only when the operator allows it (PREMIUM_INTERIM_TRANSLATION=1, metered like any use);
otherwise its listeners get the local engine's.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import usage, wire
from core.db import session_scope
from core.membership import said_at_sql, shared_since
from core.models import Participant, User, Utterance, now_ms
from core.naming import user_room
from core.runtime import Runtime
from engines.errors import EngineError
from engines.translation.base import Context

logger = logging.getLogger(__name__)
LOCAL = "local"


def translate_interim(rt: Runtime, room_id: str, speaker_id: str, utterance_key: str, part: int,
                      text: str, source: str) -> int:
    """Send `interim-translation` to each listener in the room of another language; returns how
    many were sent (0 when the segment is committed already)."""
    with session_scope(rt.settings.database_url) as s:
        if _committed(s, utterance_key, part):
            return 0
        rows = s.execute(select(Participant.user_id, Participant.language, User.translation_engine)
                         .join(User, User.id == Participant.user_id)
                         .where(Participant.room_id == room_id, Participant.left_at.is_(None),
                                Participant.user_id != speaker_id,
                                Participant.language != source)).all()
        earlier = _earlier(s, room_id, utterance_key, part, [uid for uid, _, _ in rows])
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for uid, lang, engine in rows:
        premium_ok = rt.settings.fanout.premium_interim_translation or engine == LOCAL
        groups[(lang, engine if premium_ok else LOCAL)].append(uid)
    sent = 0
    for (lang, engine), users in groups.items():
        try:
            result = rt.registry.get(engine).translate(text, source, lang,
                                                       Context(previous=earlier[-3:]))
        except EngineError:
            continue  # an interim is not worth a failure notice: the segment's caption follows
        for unit, amount in result.usage.items():
            usage.record(rt.settings.database_url, result.engine, unit, amount, room_id, speaker_id)
        interim: wire.InterimTranslation = {
            "speakerId": speaker_id, "utteranceKey": utterance_key, "part": part,
            "text": result.text, "sourceLang": source, "targetLang": lang}
        for uid in users:
            rt.emitter.emit("interim-translation", interim, to=user_room(room_id, uid))
            sent += 1
    rt.metrics.inc("interim_translations", "sent", sent)
    return sent


def _earlier(s: Session, room_id: str, utterance_key: str, part: int,
             listeners: list[str]) -> tuple[str, ...]:
    """The utterance's committed segments before `part` (its context) that every one of
    `listeners` heard: none said before the latest of them joined."""
    since = shared_since(s, room_id, listeners, now_ms())
    if since is None:
        return ()
    return tuple(s.scalars(select(Utterance.text).where(
        Utterance.room_id == room_id, Utterance.utterance_key == utterance_key,
        Utterance.part < part, said_at_sql() >= since).order_by(Utterance.part)))


def _committed(s: Session, utterance_key: str, part: int) -> bool:
    """Whether that segment (or a later one of the utterance) is stored: its caption is out."""
    return s.scalars(select(Utterance.id).where(Utterance.utterance_key == utterance_key,
                                                Utterance.part >= part)).first() is not None
