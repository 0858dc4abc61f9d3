"""POST /livekit/webhook: LiveKit's participant events, verified over the raw body with its
WebhookReceiver; they keep who is in the call current and are broadcast as `voice-presence`."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from app import agents
from app.errors import error_response
from app.extensions import services, socketio
from core import wire
from core.db import session_scope
from core.models import Participant
from core.naming import room_channel

bp = Blueprint("livekit_webhook", __name__)

# app room id → user ids LiveKit says are in the call
in_call: dict[str, set[str]] = {}


def _in_room(room_id: str, user_id: str) -> bool:
    with session_scope(services().settings.database_url) as s:
        return s.scalars(select(Participant.id).where(
            Participant.room_id == room_id[:32], Participant.user_id == user_id[:32],
            Participant.left_at.is_(None))).first() is not None


@bp.post("/livekit/webhook")
def webhook() -> tuple[Response, int]:
    lk = services().livekit
    if lk is None:
        return error_response("livekit_unavailable", "LiveKit is not configured", 404)
    from livekit import api
    receiver = api.WebhookReceiver(api.TokenVerifier(lk.config.api_key, lk.config.api_secret))
    try:
        event = receiver.receive(request.get_data(as_text=True), request.headers.get("Authorization", ""))
    except Exception:
        services().metrics.inc("errors", "bridge:livekit_webhook")
        return error_response("bad_signature", "webhook not verified", 401)
    if event.event in ("participant_joined", "participant_left") and event.room.name \
            and agents.our_rooms(services(), [event.room.name]):
        who = event.participant
        if (event.event == "participant_joined" and who.identity
                and who.kind != api.ParticipantInfo.Kind.AGENT
                and not _in_room(event.room.name, who.identity)):
            # A token outlives leaving (and LiveKit refreshes a connected participant's): whoever
            # is not in the app room is shown the door at once.
            socketio.start_background_task(agents.left_room, services(), event.room.name, who.identity)
            return jsonify({"ok": True}), 200
        if who.identity and who.kind != api.ParticipantInfo.Kind.AGENT:
            members = in_call.setdefault(event.room.name, set())
            joined = event.event == "participant_joined"
            (members.add if joined else members.discard)(who.identity)
            presence: wire.VoicePresence = {"roomId": event.room.name, "userId": who.identity,
                                            "inVoice": joined}
            socketio.emit("voice-presence", presence, to=room_channel(event.room.name))
    return jsonify({"ok": True}), 200
