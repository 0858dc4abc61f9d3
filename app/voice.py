"""Voice sessions over LiveKit (the seed's Phase 2): Socket.IO stays the control plane."""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app import validation as v
from app.extensions import Services, services, socketio
from app.sockets import Client, clients, handler
from core.db import session_scope
from core.expiring import ExpiringKeys
from core.models import User

logger = logging.getLogger(__name__)

# sid → app room id of that socket's live voice session
voice_sessions: dict[str, str] = {}
# app room id → user ids LiveKit says are in the call (from its webhooks)
in_call: dict[str, set[str]] = {}

HEARTBEAT_TTL_S = 6.0  # the agent beats every 2 s; three missed beats and its rooms are orphaned
DISPATCH_EVERY_S = 8.0  # at most one dispatch per room in this long (joining takes < 1 s)
WATCH_EVERY_S = 2.0


class AgentPresence:
    """Which rooms a live agent serves (from its heartbeats) and when each was last dispatched,
    shared by every web process when distributed."""

    def __init__(self, redis_url: str) -> None:
        self._keys = ExpiringKeys(redis_url, "lt:agent:")

    def last_seen_s(self) -> float | None:
        """Seconds since any agent's last heartbeat (None: never, or not in the last hour)."""
        last = self._keys.get("last")
        return None if last is None else round(time.time() - float(last), 1)

    def beat(self, agent_id: str, rooms: list[str]) -> None:
        self._keys.put("last", 3600, str(time.time()))
        self._keys.put_many([f"room:{room}" for room in rooms], HEARTBEAT_TTL_S, agent_id)

    def serving(self, room: str) -> bool:
        return self._keys.get(f"room:{room}") is not None

    def claim_dispatch(self, room: str) -> bool:
        """True for the one caller that may dispatch to this room now."""
        return self._keys.put(f"dispatch:{room}", DISPATCH_EVERY_S, only_new=True)

    def release_dispatch(self, room: str) -> None:
        self._keys.delete(f"dispatch:{room}")


_presence: AgentPresence | None = None


def presence(svc: Services | None = None) -> AgentPresence:
    global _presence
    if _presence is None:
        _presence = AgentPresence((svc or services()).settings.redis_url)
    return _presence


def ensure_agent(svc: Services, room: str) -> bool:
    """Dispatch the speech agent to `room` unless a live agent serves it or a dispatch is
    recent. LiveKit drops a dispatch when no agent worker is registered, and never re-dispatches
    after an agent dies: the heartbeats and this check cover both. True if it dispatched."""
    lk = svc.livekit
    watch = presence(svc)
    if lk is None or watch.serving(room) or not watch.claim_dispatch(room):
        return False
    try:
        lk.dispatch_agent(room)
    except Exception:
        watch.release_dispatch(room)
        raise
    logger.info("speech agent dispatched", extra={"room_id": room})
    return True


def ensure_agents(svc: Services, *, at_once: bool = False) -> None:
    """Every voice room keeps an agent. `at_once` (an agent worker just registered with
    LiveKit): rooms nobody serves need not wait out their last dispatch — one made while no
    worker was registered was dropped by LiveKit."""
    watch = presence(svc)
    for room in set(voice_sessions.values()):
        if at_once and not watch.serving(room):
            watch.release_dispatch(room)
        try:
            ensure_agent(svc, room)
        except Exception:
            logger.warning("could not dispatch the speech agent", exc_info=True,
                           extra={"room_id": room})


def watch_agents(svc: Services) -> None:
    """Background loop of the web process."""
    while True:
        socketio.sleep(WATCH_EVERY_S)
        ensure_agents(svc)


def language_changed(svc: Services, user_id: str, language: str) -> None:
    """A speaker changed language: update their LiveKit attribute in each voice room they are
    in, so the agent recognises the new language from their next utterance."""
    lk = svc.livekit
    if lk is None:
        return
    rooms = {room for sid, room in voice_sessions.items()
             if (c := clients.get(sid)) is not None and c.user_id == user_id}
    for room in rooms:
        try:
            lk.set_language(room, user_id, language)
        except Exception:
            logger.warning("could not update the speaker's language in LiveKit", exc_info=True,
                           extra={"room_id": room})

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
        ensure_agent(services(), room)
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


EMPTY_ROOM_GRACE_S = 30.0


def room_emptied(svc: Services, room: str) -> None:
    """The last participant left the app room: after a grace period (a reconnect is not a
    departure), delete its LiveKit room so the agent and any stale media session go with it."""
    from sqlalchemy import select

    from core.models import Participant
    if svc.livekit is None:
        return
    socketio.sleep(float(os.environ.get("LIVEKIT_EMPTY_ROOM_GRACE_S", EMPTY_ROOM_GRACE_S)))
    with session_scope(svc.settings.database_url) as s:
        back = s.scalars(select(Participant.id).where(Participant.room_id == room,
                                                      Participant.left_at.is_(None))).first()
    if back is not None or room in voice_sessions.values():
        return
    try:
        if room in svc.livekit.list_rooms():
            svc.livekit.delete_room(room)
            logger.info("LiveKit room deleted: the app room is empty", extra={"room_id": room})
    except Exception:
        logger.warning("could not delete the LiveKit room", exc_info=True, extra={"room_id": room})
