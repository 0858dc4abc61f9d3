"""handle_transcript(): the one entry for every final transcript, typed or spoken; and
publish_interim(), the one place an `interim-transcript` is sent from.

handle_transcript persists the utterance, echoes `recognized-speech` to the speaker and enqueues
the fan-out. The Socket.IO `speech-transcript` handler, the speech link (Socket.IO audio) and the
agent bridge (LiveKit) all call it.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import services, socketio
from app.validation import BadInput
from core import wire
from core.db import session_scope
from core.membership import SERVER_TIMED
from core.models import Participant, User, Utterance, now_ms
from core.naming import room_channel, speaker_channel
from workers.tasks import enqueue_fanout, enqueue_interim

logger = logging.getLogger(__name__)




@dataclass(frozen=True)
class TranscriptIn:
    """A validated final transcript."""

    speaker_id: str
    text: str
    source_lang: str
    room_id: str | None = None
    solo_target_lang: str | None = None
    engine: str = "text"
    idempotency_key: str | None = None
    speech_end_at: float | None = None
    # A segment of a spoken utterance: the recogniser's key for the utterance and its part.
    utterance_key: str | None = None
    part: int = 0
    # Whether the sender retries when the fan-out cannot be handed on (a typed message's page, the
    # agent's outbox): then it is told so (503). The speech link does not; recovery resumes it.
    sender_retries: bool = True


def handle_transcript(t: TranscriptIn) -> wire.RecognizedSpeech:
    """Persist, echo and enqueue one transcript; returns the `recognized-speech` payload.

    The same idempotency key twice yields the same utterance and no second message: the fan-out is
    enqueued again (in case the first enqueue was lost), and it skips listeners already served.
    """
    svc = services()
    try:
        u, duplicate, speaker_name = _store(svc.settings.database_url, t)
    except IntegrityError:
        # The same idempotency key arrived twice at once and the other insert won: now it exists.
        u, duplicate, speaker_name = _store(svc.settings.database_url, t)
    # Committed: the fan-out can read the row.
    payload: wire.RecognizedSpeech = {"id": u.id, "utteranceId": u.id, "text": u.text,
                                      "sourceLang": u.source_lang, "speakerName": speaker_name,
                                      "receivedAt": u.received_at, "duplicate": duplicate,
                                      "utteranceKey": u.utterance_key or u.id, "part": u.part}
    if u.utterance_key:
        interims().committed(u.utterance_key, u.part)
    if not duplicate:
        svc.metrics.inc("utterances", u.engine)
        socketio.emit("recognized-speech", payload, to=speaker_channel(u.speaker_id, u.room_id))
    try:
        enqueue_fanout(u.id)
    except Exception as exc:
        svc.metrics.inc("errors", "enqueue")
        logger.warning("could not enqueue a fan-out", extra={"utterance_id": u.id,
                                                            "error": type(exc).__name__})
        if t.sender_retries:  # stored: the retry (same key) enqueues it without a second copy
            raise BadInput("queue_unavailable", "the message is saved but not sent yet; "
                                                "send it again", 503) from None
    logger.info("transcript accepted", extra={"utterance_id": u.id, "room_id": u.room_id,
                                              "chars": len(u.text), "duplicate": duplicate})
    return payload


def _store(url: str, t: TranscriptIn) -> tuple[Utterance, bool, str]:
    """Insert the utterance (or find it by idempotency key); returns (row, duplicate, speaker)."""
    with session_scope(url) as s:
        speaker = s.get(User, t.speaker_id)
        if speaker is None:
            raise BadInput("unknown_user", "the speaker does not exist", 404)
        present: Any = Participant.left_at.is_(None)
        if t.engine in SERVER_TIMED and t.speech_end_at:
            # Speech recognised by our own agent or speech process: what counts is that they were
            # in the room when they spoke (a final delivered after an app restart or a hang-up).
            present = or_(present, Participant.left_at >= t.speech_end_at)
        if t.room_id is not None and s.scalars(select(Participant.id).where(
                Participant.room_id == t.room_id, Participant.user_id == t.speaker_id,
                present)).first() is None:
            raise BadInput("not_in_room", "join the room before speaking in it", 403)
        if t.idempotency_key:
            existing = s.scalars(select(Utterance).where(
                Utterance.idempotency_key == t.idempotency_key)).first()
            if existing is not None:
                if existing.speaker_id != t.speaker_id:
                    raise BadInput("bad_idempotency_key", "that idempotency key is someone else's")
                return existing, True, speaker.display_name
        if not one_line(t.text):
            raise BadInput("empty_transcript", "the transcript is empty")
        received = now_ms()
        u = Utterance(speaker_id=t.speaker_id, room_id=t.room_id, text=one_line(t.text),
                      source_lang=t.source_lang, engine=t.engine,
                      solo_target_lang=t.solo_target_lang, idempotency_key=t.idempotency_key,
                      utterance_key=t.utterance_key, part=t.part,
                      speech_end_at=_speech_end(t, received), received_at=received,
                      enqueued_at=received)
        s.add(u)
        return u, False, speaker.display_name


def segment_key(key: str, part: int) -> str:
    """The idempotency key of one segment of an utterance: the utterance's own for its first."""
    return f"{key}#{part}" if part else key


# A typed message's speechEndAt is the browser's clock: kept (for latency) only when plausible.
CLIENT_SKEW_MS = 30_000
LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


def one_line(text: str) -> str:
    """A transcript is one line: a line break sent in it would forge cues in SRT/VTT exports."""
    return LINE_BREAKS.sub(" ", text).strip()


def _speech_end(t: TranscriptIn, received: float) -> float | None:
    """When the speech ended, never after the server received it; a client's value also no more
    than CLIENT_SKEW_MS before (else dropped). Order is the server's receipt either way."""
    end = t.speech_end_at
    if end is None or not math.isfinite(end):
        return None
    if t.engine in SERVER_TIMED:
        return min(end, received)
    return end if received - CLIENT_SKEW_MS <= end <= received else None


def publish_interim(speaker_id: str, room_id: str | None, text: str, language: str,
                    utterance_key: str, part: int = 0, solo_target: str | None = None) -> None:
    """Send a partial transcript to the room (solo: to the speaker's own sockets), and have it
    translated for the room's listeners of other languages (`interim-translation`, throttled).
    With segments it holds only the words after the utterance's committed parts. Only a current
    participant's reach the room: BadInput `not_in_room` otherwise."""
    if room_id is not None:
        with session_scope(services().settings.database_url) as s:
            if s.scalars(select(Participant.id).where(
                    Participant.room_id == room_id, Participant.user_id == speaker_id,
                    Participant.left_at.is_(None))).first() is None:
                raise BadInput("not_in_room", "the speaker is not in that room", 403)
    line = one_line(text)
    interim: wire.InterimTranscript = {"speakerId": speaker_id, "text": line, "sourceLang": language,
                                       "utteranceKey": utterance_key, "part": part}
    socketio.emit("interim-transcript", interim,
                  to=room_channel(room_id) if room_id else speaker_channel(speaker_id, None))
    if room_id is not None and utterance_key and line:
        interims().offer(utterance_key, part, line, (room_id, speaker_id, language))


@dataclass
class _Live:
    """One utterance's translated interims: when the last went out and what it said, how many
    parts are committed, the one held back by the interval, and when it was last offered one."""

    seen: float
    sent_at: float = 0.0
    sent: tuple[str, int] = ("", -1)  # (text, part)
    committed: int = 0
    held: tuple[int, str, tuple[str, str, str]] | None = None  # (part, text, args)


class InterimThrottle:
    """Translated interims per utterance: at most one every `interval_s`, only when the words
    changed, and none for a segment already committed. One held back by the interval is sent
    when the interval is up, unless newer words or the segment's caption came first."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}  # by utterance key

    def offer(self, key: str, part: int, text: str, args: tuple[str, str, str]) -> None:
        now = time.monotonic()
        with self._lock:
            self._forget_old(now)
            st = self._live.setdefault(key, _Live(now))
            st.seen = now
            if part < st.committed or st.sent == (text, part):
                return
            wait = st.sent_at + self.interval_s - now
            if wait > 0:
                if st.held is None:
                    socketio.start_background_task(self._later, key, wait)
                st.held = (part, text, args)
                return
            st.sent_at, st.sent, st.held = now, (text, part), None
        self._send(key, part, text, args)

    def committed(self, key: str, part: int) -> None:
        """The segment `part` of `key` is stored: no interim of it or before it is sent."""
        with self._lock:
            st = self._live.get(key)
            if st is not None:
                st.committed = max(st.committed, part + 1)
                if st.held is not None and st.held[0] <= part:
                    st.held = None

    def _later(self, key: str, wait: float) -> None:
        socketio.sleep(wait)
        with self._lock:
            st = self._live.get(key)
            held = st.held if st is not None else None
            if st is None or held is None:
                return
            st.sent_at, st.sent, st.held = time.monotonic(), (held[1], held[0]), None
        self._send(key, *held)

    def _forget_old(self, now: float) -> None:
        if len(self._live) > 256:
            self._live = {k: v for k, v in self._live.items() if now - v.seen < 120}

    @staticmethod
    def _send(key: str, part: int, text: str, args: tuple[str, str, str]) -> None:
        room_id, speaker_id, language = args
        try:
            enqueue_interim(room_id, speaker_id, key, part, text, language)
        except Exception:  # noqa: BLE001 - best effort: the segment's caption still comes
            logger.warning("could not hand on a translated interim", exc_info=True)


_interims: InterimThrottle | None = None


def interims() -> InterimThrottle:
    """This web process's interim throttle."""
    global _interims
    if _interims is None:
        _interims = InterimThrottle(services().settings.fanout.interim_translation_interval_s)
    return _interims


NOTICES = {
    "stt_fallback": "{previous} speech recognition is not answering; {engine} recognition took over "
                    "(nothing you said is lost).",
    "stt_restored": "{engine} speech recognition is back.",
    "budget_reached": "Today's {previous} budget is spent; {engine} recognition took over.",
    # A premium engine refused to this speaker (core.premium): the local one is used instead.
    "premium_not_offered": "{previous} recognition is not offered to users here; {engine} "
                           "recognition is used.",
    "user_cap": "Your daily premium allowance is used up; {engine} recognition is used instead "
                "of {previous}.",
    "room_cap": "This room's daily premium allowance is used up; {engine} recognition is used "
                "instead of {previous}.",
}


def publish_notice(speaker_id: str, room_id: str | None, code: str, engine: str,
                   previous: str) -> None:
    """Tell a speaker (only them) that their recognition moved to another engine, or back."""
    if code not in NOTICES:
        raise BadInput("bad_notice", "unknown notice code")
    from core.providers import LABELS
    names = {"engine": LABELS.get(engine, engine), "previous": LABELS.get(previous, previous)}
    socketio.emit("speech-notice", wire.speech_notice(code, engine, previous,
                                                      NOTICES[code].format(**names)),
                  to=speaker_channel(speaker_id, room_id))
