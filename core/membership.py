"""Membership windows: each stretch of a user's presence in a room (models.Presence), opened when
they join and closed when they leave. What was said in a room is for those present when it was
said: the fan-out's listeners and each reader's history follow these windows."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from core.models import Presence, Utterance

# Engines whose speechEndAt is measured by our own processes (the speech process, the LiveKit
# agent): when such an utterance was said is when its speech ended, however late it arrived (an
# agent's outbox replays finals after a restart). Anything else was said when it was received.
SERVER_TIMED = frozenset({"agent", "local-stt"})


def said_at(engine: str, speech_end_at: float | None, received_at: float) -> float:
    return speech_end_at if engine in SERVER_TIMED and speech_end_at else received_at


def said_at_sql() -> Any:
    """said_at() over the utterances table."""
    return case((Utterance.engine.in_(SERVER_TIMED),
                 func.coalesce(Utterance.speech_end_at, Utterance.received_at)),
                else_=Utterance.received_at)


def open_stretch(s: Session, room_id: str, user_id: str, at: float) -> None:
    """They are in the room from `at` on, unless a stretch is open already (a reconnect)."""
    if s.scalars(select(Presence.id).where(Presence.room_id == room_id, Presence.user_id == user_id,
                                           Presence.left_at.is_(None))).first() is None:
        s.add(Presence(room_id=room_id, user_id=user_id, joined_at=at))


def close_stretch(s: Session, room_id: str, user_id: str, at: float) -> None:
    s.execute(update(Presence).where(Presence.room_id == room_id, Presence.user_id == user_id,
                                     Presence.left_at.is_(None)).values(left_at=at))


def close_all(s: Session, at: float) -> None:
    s.execute(update(Presence).where(Presence.left_at.is_(None)).values(left_at=at))


def present(room_id: Any, user_id: Any, at: Any) -> Any:
    """A SQL condition: `user_id` was in `room_id` at `at` (columns or values)."""
    return exists().where(Presence.room_id == room_id, Presence.user_id == user_id,
                          Presence.joined_at <= at,
                          or_(Presence.left_at.is_(None), Presence.left_at >= at))


def shared_since(s: Session, room_id: str, user_ids: Iterable[str], at: float) -> float | None:
    """Since when every one of `user_ids` has been in `room_id` without a break, as of `at`: the
    latest of their joins into the stretches holding `at`. What was said there from then until
    `at`, all of them heard. None when one of them was not there at `at` (or there is nobody)."""
    users = set(user_ids)
    if not users:
        return None
    rows = s.execute(select(Presence.user_id, func.max(Presence.joined_at))
                     .where(Presence.room_id == room_id, Presence.user_id.in_(users),
                            Presence.joined_at <= at,
                            or_(Presence.left_at.is_(None), Presence.left_at >= at))
                     .group_by(Presence.user_id)).all()
    return max(joined for _, joined in rows) if len(rows) == len(users) else None


def ever_present(s: Session, room_id: str, user_id: str) -> bool:
    return s.scalars(select(Presence.id).where(and_(Presence.room_id == room_id,
                                                    Presence.user_id == user_id))).first() is not None
