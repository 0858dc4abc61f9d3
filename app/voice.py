"""Voice sessions over LiveKit (the seed's Phase 2): Socket.IO stays the control plane."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app import validation as v
from app.db import session_scope
from app.extensions import services, socketio
from app.models import User
from app.sockets import Client, clients, handler

logger = logging.getLogger(__name__)

# sid → app room id of that socket's live voice session
voice_sessions: dict[str, str] = {}
# app room id → user ids LiveKit says are in the call (from its webhooks)
in_call: dict[str, set[str]] = {}

bp = Blueprint("livekit_webhook", __name__)


@bp.post("/livekit/webhook")
def webhook() -> tuple[Response, int]:
    """LiveKit's participant events, verified over the raw body with WebhookReceiver; they keep
    who is in the call current (and are broadcast as `voice-presence`)."""
    lk = services().livekit
    if lk is None:
        return jsonify({"error": {"code": "livekit_unavailable",
                                  "message": "LiveKit is not configured"}}), 404
    from livekit import api
    receiver = api.WebhookReceiver(api.TokenVerifier(lk.config.api_key, lk.config.api_secret))
    try:
        event = receiver.receive(request.get_data(as_text=True), request.headers.get("Authorization", ""))
    except Exception:
        services().metrics.inc("errors", "bridge:livekit_webhook")
        return jsonify({"error": {"code": "bad_signature", "message": "webhook not verified"}}), 401
    if event.event in ("participant_joined", "participant_left") and event.room.name:
        who = event.participant
        if who.identity and who.kind != api.ParticipantInfo.Kind.AGENT:
            members = in_call.setdefault(event.room.name, set())
            joined = event.event == "participant_joined"
            (members.add if joined else members.discard)(who.identity)
            socketio.emit("voice-presence", {"roomId": event.room.name, "userId": who.identity,
                                             "inVoice": joined}, to=f"room:{event.room.name}")
    return jsonify({"ok": True}), 200


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
