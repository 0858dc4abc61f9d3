"""Socket.IO event handlers (default namespace): the seed's events and their payloads.

Every handler validates its payload first; bad input gets an error ack plus a `speech-error`
(speech events, the seed's string payload) or an `app-error {event, code, message}` (the others),
and changes nothing.
"""
from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, join_room, leave_room
from sqlalchemy import select

from app import validation as v
from app.auth import TokenError
from app.extensions import Services, services, socketio
from app.transcripts import TranscriptIn, handle_transcript
from core.db import session_scope
from core.models import Participant, Room, User, now_ms
from core.naming import own_room, user_room

logger = logging.getLogger(__name__)


@dataclass
class Client:
    """What the server knows about one connected socket."""

    user_id: str
    room_id: str | None = None


clients: dict[str, Client] = {}


def connected_count() -> int:
    return len(clients)


def _room(room_id: str) -> str:
    return f"room:{room_id}"


def handler(event: str, error_event: str = "app-error") -> Callable[..., Any]:
    """Register a Socket.IO handler that answers bad input with an error ack and event."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        # A client may send any number of arguments; more than the handler takes is bad input,
        # not a TypeError.
        params = list(inspect.signature(fn).parameters.values())[1:]
        max_args = None if any(p.kind is p.VAR_POSITIONAL for p in params) else len(params)

        @functools.wraps(fn)
        def inner(*args: Any) -> Any:
            client = clients.get(request.sid)  # type: ignore[attr-defined]
            try:
                if client is None:
                    raise v.BadInput("unauthorized", "connect with a session token first", 401)
                if max_args is not None and len(args) > max_args:
                    raise v.BadInput("bad_payload", f"{event} takes {max_args} argument(s), "
                                                    f"got {len(args)}")
                result = fn(client, *args)
                return {"ok": True, **(result or {})}
            except v.BadInput as exc:
                services().metrics.inc("errors", f"bad_input:{event}")
                if error_event == "speech-error":
                    socketio.emit("speech-error", exc.message, to=request.sid)  # type: ignore[attr-defined]
                else:
                    socketio.emit(error_event, {"event": event, **exc.as_dict()},
                                  to=request.sid)  # type: ignore[attr-defined]
                return {"ok": False, "error": exc.as_dict()}
            except Exception:
                services().metrics.inc("errors", f"internal:{event}")
                logger.exception("socket handler failed", extra={"event": event})
                return {"ok": False, "error": {"code": "internal", "message": "server error"}}

        socketio.on_event(event, inner)
        return inner

    return wrap


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Refuse any connection without a valid, unexpired session token."""
    token = auth.get("token") if isinstance(auth, dict) else None
    try:
        user_id = services().tokens.verify(token)
    except TokenError as exc:
        raise ConnectionRefusedError({"code": exc.code, "message": str(exc)}) from None
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, user_id)
        if user is None:
            raise ConnectionRefusedError({"code": "unauthorized", "message": "unknown user"})
    clients[request.sid] = Client(user_id=user_id)  # type: ignore[attr-defined]
    join_room(own_room(user_id))


@socketio.on("disconnect")
def on_disconnect(*_: Any) -> None:
    from app import speech, voice
    speech.client_gone(request.sid)  # type: ignore[attr-defined]
    voice.client_gone(request.sid)  # type: ignore[attr-defined]
    client = clients.pop(request.sid, None)  # type: ignore[attr-defined]
    if client is not None and client.room_id:
        # A dropped connection is not a departure: for a grace period they stay a participant, so
        # what is said meanwhile is still translated for them and their reconnecting client
        # fills it in from the room's history. Then, unless they are back, they leave.
        socketio.start_background_task(_depart_later, services(), client.user_id, client.room_id,
                                       now_ms())


def _depart_later(svc: Services, user_id: str, room_id: str, dropped_at: float) -> None:
    socketio.sleep(float(os.environ.get("DISCONNECT_GRACE_S", "15")))
    if any(c.user_id == user_id and c.room_id == room_id for c in clients.values()):
        return  # back on another connection of this process
    _depart(svc, user_id, room_id, unless_back_since=dropped_at)


def _depart(svc: Services, user_id: str, room_id: str, unless_back_since: float | None = None) -> None:
    """The user leaves the room: marked gone, `user-left` to the room, and the LiveKit room
    cleaned up if nobody is left. With `unless_back_since`, nothing happens if they left
    explicitly or joined again since then (perhaps through another web process)."""
    with session_scope(svc.settings.database_url) as s:
        p = s.scalars(select(Participant).where(Participant.room_id == room_id,
                                                Participant.user_id == user_id)).first()
        if unless_back_since is not None and (p is None or p.left_at is not None
                                              or p.joined_at > unless_back_since):
            return
        if p is not None:
            p.left_at = now_ms()
        empty = s.scalars(select(Participant.id).where(Participant.room_id == room_id,
                                                       Participant.left_at.is_(None))).first() is None
    socketio.emit("user-left", {"userId": user_id}, to=_room(room_id))
    if empty and svc.livekit is not None:
        from app import voice
        socketio.start_background_task(voice.room_emptied, svc, room_id)

def _participants(s: Any, room_id: str) -> list[dict[str, Any]]:
    rows = s.execute(select(User.id, User.display_name, Participant.language)
                     .join(Participant, Participant.user_id == User.id)
                     .where(Participant.room_id == room_id, Participant.left_at.is_(None))
                     .order_by(Participant.joined_at)).all()
    return [{"userId": uid, "displayName": name, "language": lang} for uid, name, lang in rows]


@handler("join-room")
def on_join_room(client: Client, payload: Any = None) -> dict[str, Any]:
    code = v.room_code(payload)
    sid = request.sid  # type: ignore[attr-defined]
    with session_scope(services().settings.database_url) as s:
        room = s.scalars(select(Room).where(Room.code == code, Room.closed_at.is_(None))).first()
        if room is None:
            raise v.BadInput("room_not_found", f"no open room has the code {code}", 404)
        if client.room_id and client.room_id != room.id:
            _leave(client, sid)
        user = s.get(User, client.user_id)
        assert user is not None
        p = s.scalars(select(Participant).where(Participant.room_id == room.id,
                                                Participant.user_id == user.id)).first()
        if p is None:
            p = Participant(room_id=room.id, user_id=user.id, language=user.language)
            s.add(p)
        p.language, p.left_at, p.joined_at = user.language, None, now_ms()
        s.flush()
        me = {"userId": user.id, "displayName": user.display_name, "language": user.language}
        participants = _participants(s, room.id)
        room_id, room_code = room.id, room.code
    client.room_id = room_id
    join_room(_room(room_id))
    join_room(user_room(room_id, client.user_id))
    socketio.emit("joined-room", {"roomId": room_id, "code": room_code, "you": me,
                                  "participants": participants}, to=sid)
    socketio.emit("user-joined", me, to=_room(room_id), skip_sid=sid)
    return {"roomId": room_id, "code": room_code}


def _leave(client: Client, sid: str) -> None:
    """Take this socket out of its room; the user leaves when no other socket of theirs is in it."""
    room_id = client.room_id
    if room_id is None:
        return
    client.room_id = None
    leave_room(_room(room_id), sid=sid)
    leave_room(user_room(room_id, client.user_id), sid=sid)
    still_here = any(c.user_id == client.user_id and c.room_id == room_id
                     for other, c in clients.items() if other != sid)
    if not still_here:
        _depart(services(), client.user_id, room_id)


@handler("leave-room")
def on_leave_room(client: Client, *_: Any) -> dict[str, Any]:
    if client.room_id is None:
        raise v.BadInput("not_in_room", "you are not in a room")
    room_id = client.room_id
    _leave(client, request.sid)  # type: ignore[attr-defined]
    return {"roomId": room_id}


@handler("speech-transcript", error_event="speech-error")
def on_speech_transcript(client: Client, payload: Any = None) -> dict[str, Any]:
    """Text mode (and the seed's client-side STT): one final transcript from the browser."""
    data = v.as_object(payload, "speech-transcript")
    v.only_keys(data, {"transcript", "sourceLang", "soloMode", "soloTargetLang", "clientId",
                       "speechEndAt"}, "speech-transcript")
    text = v.text(data, "transcript", max_len=services().settings.max_transcript_chars)
    source = v.language(data, "sourceLang")
    solo_mode = v.boolean(data, "soloMode")
    solo_target = v.language(data, "soloTargetLang", required=False)
    client_id = v.text(data, "clientId", max_len=64, required=False, single_line=True)
    speech_end = v.number(data, "speechEndAt", lo=0, hi=1e14)
    if solo_mode and not solo_target:
        solo_target = _solo_preference(client.user_id)
    if solo_mode and not solo_target:
        raise v.BadInput("missing_field", "soloTargetLang is required in solo mode (or set it "
                                          "in your preferences)")
    if not solo_mode and client.room_id is None:
        raise v.BadInput("not_in_room", "join a room (or use solo mode) before sending speech", 403)
    recognized = handle_transcript(TranscriptIn(
        speaker_id=client.user_id, text=str(text), source_lang=str(source),
        room_id=None if solo_mode else client.room_id,
        solo_target_lang=solo_target if solo_mode else None,
        idempotency_key=f"client:{client.user_id}:{client_id}" if client_id else None,
        speech_end_at=speech_end))
    return {"utteranceId": recognized["id"], "duplicate": recognized["duplicate"]}


@handler("ping")
def on_ping(client: Client, payload: Any = None) -> dict[str, Any]:
    """Round-trip probe for latency meters: acks at once with the server's clock."""
    return {"serverTime": now_ms()}


def _solo_preference(user_id: str) -> str | None:
    """The session's solo target language (PATCH /api/me soloTargetLang), read fresh."""
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, user_id)
        return user.solo_target_lang if user else None


@handler("client-error")
def on_client_error(client: Client, payload: Any = None) -> dict[str, Any]:
    """Browser-side error telemetry. Only the code and sizes are logged: the message may quote
    what someone said."""
    data = v.as_object(payload, "client-error")
    v.only_keys(data, {"code", "message", "details"}, "client-error")
    code = v.text(data, "code", max_len=64, single_line=True)
    message = v.text(data, "message", max_len=2000)
    details = data.get("details")
    if details is not None and not isinstance(details, (dict, str)):
        raise v.BadInput("bad_type", "details must be an object or a string")
    if details is not None and len(repr(details)) > 8000:
        raise v.BadInput("too_long", "details is too large", 413)
    services().metrics.inc("errors", "client")
    logger.warning("client reported an error", extra={
        "user_id": client.user_id, "code": code, "message_chars": len(message or ""),
        "detail_keys": sorted(map(str, details))[:20] if isinstance(details, dict) else None})
    return {}
