"""SQLAlchemy 2 models: users, rooms, participants, utterances, translations, deliveries."""
from __future__ import annotations

import time
import uuid

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return uuid.uuid4().hex


def now_ms() -> float:
    return time.time() * 1000.0


class Base(DeclarativeBase):
    pass


class User(Base):
    """A guest account and its preferences."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    display_name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    translation_engine: Mapped[str] = mapped_column(String(32), default="local")
    tts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tts_engine: Mapped[str] = mapped_column(String(32), default="local", server_default="local")
    stt_engine: Mapped[str] = mapped_column(String(32), default="local", server_default="local")
    voice: Mapped[str | None] = mapped_column(String(64), nullable=True)
    solo_target_lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[float] = mapped_column(Float, default=now_ms)

    def public(self) -> dict[str, object]:
        return {"id": self.id, "displayName": self.display_name, "language": self.language}

    def preferences(self) -> dict[str, object]:
        return {"language": self.language, "sttEngine": self.stt_engine,
                "translationEngine": self.translation_engine,
                "ttsEnabled": self.tts_enabled, "ttsEngine": self.tts_engine, "voice": self.voice,
                "soloTargetLang": self.solo_target_lang}


class Room(Base):
    __tablename__ = "rooms"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[float] = mapped_column(Float, default=now_ms)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The room's glossary: a JSON list of terms (premium STT key terms, kept verbatim by premium
    # translation), set by the room's creator.
    glossary: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")

    def terms(self) -> list[str]:
        import json
        try:
            terms = json.loads(self.glossary or "[]")
        except ValueError:
            return []
        return [str(t) for t in terms] if isinstance(terms, list) else []


class Participant(Base):
    """A user's membership of a room, with the language they listen in."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("room_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    language: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[float] = mapped_column(Float, default=now_ms)
    left_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Presence(Base):
    """One stretch of a user's membership of a room, from joining to leaving (open while they are
    in it). A reconnect within the disconnect grace is the same stretch. What was said in a room
    is for those present when it was said: the fan-out's listeners, the history each may read."""

    __tablename__ = "presence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    joined_at: Mapped[float] = mapped_column(Float, default=now_ms)
    left_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Utterance(Base):
    """One final transcript (a whole utterance, or one segment of it), with the timestamps of each
    stage it went through."""

    __tablename__ = "utterances"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id"), nullable=True, index=True)
    speaker_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    source_lang: Mapped[str] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(32), default="text")
    solo_target_lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    # A spoken utterance committed in segments: each is a row, sharing the recogniser's utterance
    # key, in `part` order (0 for anything said or typed in one piece).
    utterance_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    part: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    speech_end_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    received_at: Mapped[float] = mapped_column(Float, default=now_ms)
    # When its fan-out was last handed on (stored, then each resume), and when it finished (every
    # listener served or told it failed). One handed on a while ago and not finished, whose
    # fan-out is not running, is resumed (app/recovery.py).
    enqueued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    fanned_out_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Translation(Base):
    """An utterance translated once per (target language, engine), however many listen."""

    __tablename__ = "translations"
    __table_args__ = (UniqueConstraint("utterance_id", "target_lang", "engine"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    utterance_id: Mapped[str] = mapped_column(ForeignKey("utterances.id"), index=True)
    target_lang: Mapped[str] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    elapsed_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float, default=now_ms)


class Delivery(Base):
    """That a listener was sent an utterance's message: a re-delivered task skips them."""

    __tablename__ = "deliveries"
    utterance_id: Mapped[str] = mapped_column(ForeignKey("utterances.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    delivered_at: Mapped[float] = mapped_column(Float, default=now_ms)


Index("ix_participants_active", Participant.room_id, Participant.left_at)
Index("ix_presence_room", Presence.room_id, Presence.joined_at)
Index("ix_utterances_unfinished", Utterance.fanned_out_at, Utterance.received_at)
Index("ix_utterances_key", Utterance.utterance_key, Utterance.part)


class Usage(Base):
    """What premium providers billed, per UTC day, provider, unit ("audio_seconds", "characters",
    "tokens"), room and user ("" where there is none: solo speech, a voice list)."""

    __tablename__ = "usage"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit: Mapped[str] = mapped_column(String(16), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(32), primary_key=True, default="")
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True, default="")
    amount: Mapped[float] = mapped_column(Float, default=0.0)
