"""Connecting and rooms: `connect` (session token), `disconnect`, `join-room`, `leave-room`.

A dropped connection is not a departure: for a grace period its user stays a participant, so
what is said meanwhile is still translated for them and their reconnecting client fills it in
from the room's history.
"""
from __future__ import annotations

from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, join_room, leave_room
from sqlalchemy import select

from app import agents
from app import validation as v
from app.auth import TokenError
from app.clients import Client, clients, handler
from app.extensions import Services, services, socketio
from app.quotas import RateLimited
from core import membership, wire
from core.db import session_scope
from core.models import Participant, Room, User, now_ms
from core.naming import own_room, room_channel, user_room


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Refuse any connection without a valid, unexpired session token."""
    token = auth.get("token") if isinstance(auth, dict) else None
    svc = services()
    try:
        user_id = svc.tokens.verify(token)
    except TokenError as exc:
        raise ConnectionRefusedError({"code": exc.code, "message": str(exc)}) from None
    with session_scope(svc.settings.database_url) as s:
        if s.get(User, user_id) is None:
            raise ConnectionRefusedError({"code": "unauthorized", "message": "unknown user"})
    clients.add(request.sid, Client(user_id=user_id,  # type: ignore[attr-defined]
                                    ip=request.remote_addr or ""))
    join_room(own_room(user_id))


@socketio.on("disconnect")
def on_disconnect(*_: Any) -> None:
    # Its audio session and voice session end in the hooks the other event modules registered.
    client = clients.remove(request.sid)  # type: ignore[attr-defined]
    if client is not None and client.room_id:
        socketio.start_background_task(_depart_later, services(), client.user_id, client.room_id,
                                       now_ms())


def _depart_later(svc: Services, user_id: str, room_id: str, dropped_at: float) -> None:
    socketio.sleep(svc.settings.web.disconnect_grace_s)
    if clients.in_room(user_id, room_id):
        return  # back on another connection of this process
    if _still_there_elsewhere(svc, user_id, room_id):
        return
    _depart(svc, user_id, room_id, unless_back_since=dropped_at)


def _still_there_elsewhere(svc: Services, user_id: str, room_id: str) -> bool:
    """No socket of theirs is left in the room on this web process: it no longer holds them, and
    they stay if another live web process does (another tab or device)."""
    if svc.liveness is None:
        return False
    svc.liveness.release(room_id, user_id)
    return bool(svc.liveness.held_elsewhere(room_id, user_id))


def _depart(svc: Services, user_id: str, room_id: str, unless_back_since: float | None = None) -> None:
    """The user leaves the room: marked gone, `user-left` to the room, and the LiveKit room
    cleaned up if nobody is left. With `unless_back_since`, nothing happens if they left
    explicitly or joined again since then (perhaps through another web process)."""
    with session_scope(svc.settings.database_url) as s:
        p = s.scalars(select(Participant).where(Participant.room_id == room_id,
                                                Participant.user_id == user_id)).first()
        if unless_back_since is not None and (p is None or p.left_at is not None
                                              or p.joined_at > unless_back_since):
            if (p is None or p.left_at is not None) and svc.liveness is not None:
                svc.liveness.release(room_id, user_id)  # gone already: held by nobody
            return
        if p is not None:
            p.left_at = now_ms()
            membership.close_stretch(s, room_id, user_id, p.left_at)
        empty = s.scalars(select(Participant.id).where(Participant.room_id == room_id,
                                                       Participant.left_at.is_(None))).first() is None
    if svc.liveness is not None:
        svc.liveness.release(room_id, user_id)
    left: wire.UserRef = {"userId": user_id}
    socketio.emit("user-left", left, to=room_channel(room_id))
    if svc.livekit is not None:
        socketio.start_background_task(agents.left_room, svc, room_id, user_id)
        if empty:
            socketio.start_background_task(agents.room_emptied, svc, room_id)


def depart_held(svc: Services, room_id: str, user_id: str, joined_before: float) -> None:
    """Someone a web process held when it died and no live one holds (app/liveness.py): departed,
    unless they left meanwhile or joined again after `joined_before`."""
    _depart(svc, user_id, room_id, unless_back_since=joined_before)


def _participants(s: Any, room_id: str) -> list[wire.Participant]:
    rows = s.execute(select(User.id, User.display_name, Participant.language)
                     .join(Participant, Participant.user_id == User.id)
                     .where(Participant.room_id == room_id, Participant.left_at.is_(None))
                     .order_by(Participant.joined_at)).all()
    return [wire.participant(uid, name, lang) for uid, name, lang in rows]


@handler("join-room")
def on_join_room(client: Client, payload: Any = None) -> wire.JoinRoomResult:
    code = v.room_code(payload)
    sid = request.sid  # type: ignore[attr-defined]
    quotas = services().quotas
    quotas.take("join", user=client.user_id, ip=client.ip)
    if quotas.refused("join_miss", user=client.user_id, ip=client.ip):  # guessing codes
        raise RateLimited("join_miss", 60)
    with session_scope(services().settings.database_url) as s:
        room = s.scalars(select(Room).where(Room.code == code, Room.closed_at.is_(None))).first()
        if room is None:
            quotas.take("join_miss", user=client.user_id, ip=client.ip)
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
        membership.open_stretch(s, room.id, user.id, p.joined_at)
        s.flush()
        me = wire.participant(user.id, user.display_name, user.language)
        participants = _participants(s, room.id)
        room_id, room_code = room.id, room.code
    client.room_id = room_id
    if services().liveness is not None:
        services().liveness.hold(room_id, client.user_id)
    join_room(room_channel(room_id))
    join_room(user_room(room_id, client.user_id))
    joined: wire.JoinedRoom = {"roomId": room_id, "code": room_code, "you": me,
                               "participants": participants}
    socketio.emit("joined-room", joined, to=sid)
    socketio.emit("user-joined", me, to=room_channel(room_id), skip_sid=sid)
    return {"roomId": room_id, "code": room_code}


def _leave(client: Client, sid: str) -> None:
    """Take this socket out of its room (its audio and voice sessions there end); the user leaves
    when no other socket of theirs is in it, here or on another web process, and is then removed
    from the LiveKit room too."""
    room_id = client.room_id
    if room_id is None:
        return
    client.room_id = None
    leave_room(room_channel(room_id), sid=sid)
    leave_room(user_room(room_id, client.user_id), sid=sid)
    clients.left(sid, client, room_id)  # its audio and voice sessions in that room end
    if not clients.in_room(client.user_id, room_id, besides=sid) and not _still_there_elsewhere(
            services(), client.user_id, room_id):
        _depart(services(), client.user_id, room_id)


@handler("leave-room")
def on_leave_room(client: Client, *_: Any) -> wire.RoomResult:
    if client.room_id is None:
        raise v.BadInput("not_in_room", "you are not in a room")
    room_id = client.room_id
    _leave(client, request.sid)  # type: ignore[attr-defined]
    return {"roomId": room_id}
