"""Voice sessions over LiveKit (the seed's Phase 2): Socket.IO stays the control plane."""
from __future__ import annotations

import logging
from typing import Any

from flask import request

from app import validation as v
from app.db import session_scope
from app.extensions import services, socketio
from app.models import User
from app.sockets import Client, clients, handler

logger = logging.getLogger(__name__)

# sid → app room id of that socket's live voice session
voice_sessions: dict[str, str] = {}


@handler("start-voice-session", error_event="speech-error")
def on_start_voice_session(client: Client, payload: Any = None) -> dict[str, Any]:
    data = v.as_object(payload if payload is not None else {}, "start-voice-session")
    v.only_keys(data, {"roomId", "languageCode", "soloMode", "soloTargetLang"}, "start-voice-session")
    language = v.language(data, "languageCode", required=False)
    v.boolean(data, "soloMode")
    v.language(data, "soloTargetLang", required=False)
    lk = services().livekit
    if lk is None:
        raise v.BadInput("livekit_unavailable", "voice sessions need LiveKit, which this server does "
                                                "not have; use the Socket.IO audio path (start-speech)", 503)
    if client.room_id is None or data.get("roomId") not in (None, client.room_id):
        raise v.BadInput("not_in_room", "join the room before starting a voice session in it", 403)
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, client.user_id)
        assert user is not None
        name, language = user.display_name, language or user.language
    room = client.room_id
    try:
        lk.ensure_room(room, {"app": "live-translator"})
        lk.dispatch_agent(room)
    except Exception:
        logger.exception("LiveKit did not answer", extra={"room_id": room})
        raise v.BadInput("livekit_unavailable", "the media server is not answering; use the "
                                                "Socket.IO audio path (start-speech)", 503) from None
    sid = request.sid  # type: ignore[attr-defined]
    voice_sessions[sid] = room
    token = lk.token(user_id=client.user_id, name=name, language=str(language), room=room)
    socketio.emit("voice-session-ready", {"roomId": room, "liveKitToken": token,
                                          "liveKitUrl": lk.config.url}, to=sid)
    socketio.emit("user-started-voice", {"userId": client.user_id, "language": language},
                  to=f"room:{room}", skip_sid=sid)
    return {"roomId": room}


def end_voice(sid: str, user_id: str) -> str | None:
    """End this socket's voice session, if any; tells the room. Returns its room id."""
    room = voice_sessions.pop(sid, None)
    if room is not None:
        socketio.emit("user-stopped-voice", {"userId": user_id}, to=f"room:{room}", skip_sid=sid)
    return room


@handler("stop-voice-session", error_event="speech-error")
def on_stop_voice_session(client: Client, payload: Any = None) -> dict[str, Any]:
    sid = request.sid  # type: ignore[attr-defined]
    room = end_voice(sid, client.user_id)
    if room is None:
        raise v.BadInput("no_voice_session", "no voice session is running")
    socketio.emit("voice-session-ended", {"roomId": room}, to=sid)
    return {"roomId": room}


def client_gone(sid: str) -> None:
    client = clients.get(sid)
    if client is not None:
        end_voice(sid, client.user_id)
