"""Voice sessions over LiveKit: `start-voice-session` hands out a LiveKit
token and makes sure the speech agent is in the room; `stop-voice-session` ends it. Socket.IO
stays the control plane."""
from __future__ import annotations

import logging
from typing import Any

from flask import request

from app import agents
from app import validation as v
from app.clients import Client, clients, handler
from app.extensions import services, socketio
from app.transcripts import publish_notice
from core import premium, wire
from core.db import session_scope
from core.models import Room, User
from core.naming import room_channel

logger = logging.getLogger(__name__)


@handler("start-voice-session")
def on_start_voice_session(client: Client, payload: Any = None) -> wire.VoiceSessionResult:
    data = v.as_object(payload if payload is not None else {}, "start-voice-session")
    services().quotas.take("speech", user=client.user_id, ip=client.ip)
    v.only_keys(data, wire.fields(wire.StartVoiceSession), "start-voice-session")
    language = v.language(data, "languageCode", required=False)
    v.boolean(data, "soloMode")
    listen_only = bool(v.boolean(data, "listenOnly"))
    v.language(data, "soloTargetLang", required=False)
    svc = services()
    lk = svc.livekit
    if lk is None:
        raise v.BadInput("livekit_unavailable", "voice sessions need LiveKit, which this server does "
                                                "not have; use the Socket.IO audio path (start-speech)", 503)
    if client.room_id is None or data.get("roomId") not in (None, client.room_id):
        raise v.BadInput("not_in_room", "join the room before starting a voice session in it", 403)
    with session_scope(svc.settings.database_url) as s:
        user = s.get(User, client.user_id)
        assert user is not None
        name, language = user.display_name, language or user.language
        stt_engine = user.stt_engine
        app_room = s.get(Room, client.room_id)
        terms = app_room.terms() if app_room else []
    room = client.room_id
    if not listen_only:  # a premium recogniser this speaker may not use now: told why, local
        chosen = stt_engine
        stt_engine, refused = premium.policy(svc.settings).engine_for("stt", chosen, client.user_id, room)
        if refused:
            publish_notice(client.user_id, room, refused, stt_engine, chosen or svc.settings.engines.stt)
    try:
        lk.ensure_room(room, agents.room_metadata(terms))
        agents.ensure_agent(svc, room)
    except Exception:
        logger.exception("LiveKit did not answer", extra={"room_id": room})
        raise v.BadInput("livekit_unavailable", "the media server is not answering; use the "
                                                "Socket.IO audio path (start-speech)", 503) from None
    sid = request.sid  # type: ignore[attr-defined]
    client.voice_room = room
    token = lk.token(user_id=client.user_id, name=name, language=str(language), room=room,
                     stt_engine=stt_engine, listen_only=listen_only)
    ready: wire.VoiceSessionReady = {"roomId": room, "liveKitToken": token,
                                     "liveKitUrl": lk.config.url, "listenOnly": listen_only}
    socketio.emit("voice-session-ready", ready, to=sid)
    started: wire.UserStartedVoice = {"userId": client.user_id, "language": language,
                                      "listenOnly": listen_only}
    socketio.emit("user-started-voice", started, to=room_channel(room), skip_sid=sid)
    return {"roomId": room, "listenOnly": listen_only}


def _end_voice(sid: str, client: Client) -> str | None:
    """End this socket's voice session, if any; tells the room. Returns its room id."""
    room, client.voice_room = client.voice_room, None
    if room is not None:
        stopped: wire.UserRef = {"userId": client.user_id}
        socketio.emit("user-stopped-voice", stopped, to=room_channel(room), skip_sid=sid)
    return room


@handler("stop-voice-session")
def on_stop_voice_session(client: Client, payload: Any = None) -> wire.RoomResult:
    sid = request.sid  # type: ignore[attr-defined]
    room = _end_voice(sid, client)
    if room is None:
        raise v.BadInput("no_voice_session", "no voice session is running")
    ended: wire.VoiceSessionEnded = {"roomId": room}
    socketio.emit("voice-session-ended", ended, to=sid)
    return {"roomId": room}


def _on_gone(sid: str, client: Client) -> None:
    _end_voice(sid, client)


def _on_left(sid: str, client: Client, room_id: str) -> None:
    if client.voice_room == room_id:
        _end_voice(sid, client)
        ended: wire.VoiceSessionEnded = {"roomId": room_id}
        socketio.emit("voice-session-ended", ended, to=sid)


clients.when_gone(_on_gone)
clients.when_left(_on_left)
