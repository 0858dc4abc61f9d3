"""What the REST resources share: the `/api` blueprint, reading a JSON body, the signed-in user,
and a room the caller may see."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy import select

from app import validation as v
from app.auth import TokenError
from app.extensions import services
from core.models import Participant, Room

bp = Blueprint("api", __name__, url_prefix="/api")


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        raise v.BadInput("bad_json", "the body must be JSON (Content-Type: application/json)")
    return v.as_object(body, "the body")


def require_user() -> str:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    try:
        return services().tokens.verify(token)
    except TokenError as exc:
        raise v.BadInput(exc.code, str(exc), 401) from None


def member_room(s: Any, room_id: str, uid: str) -> Room:
    """The room, if `uid` created it or is in it now (a member who left sees no more of it);
    else BadInput 404/403."""
    room: Room | None = s.get(Room, room_id) if len(room_id) <= 32 else None
    if room is None:
        raise v.BadInput("room_not_found", "no such room", 404)
    if room.created_by != uid and s.scalars(select(Participant.id).where(
            Participant.room_id == room_id, Participant.user_id == uid,
            Participant.left_at.is_(None))).first() is None:
        raise v.BadInput("not_in_room", "only people in the room can see this", 403)
    return room
