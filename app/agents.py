"""Keeping a LiveKit speech agent in every voice room, and the LiveKit rooms in step with ours.

LiveKit drops a dispatch when no agent worker is registered and never re-dispatches after an agent
dies; the agent's heartbeats (app.bridge) and the web's watch loop here cover both.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select

from app.clients import clients
from app.extensions import Services, services, socketio
from core.db import session_scope
from core.expiring import ExpiringKeys
from core.models import Participant, Room

logger = logging.getLogger(__name__)

HEARTBEAT_TTL_S = 6.0  # the agent beats every 2 s; three missed beats and its rooms are orphaned
DISPATCH_EVERY_S = 8.0  # at most one dispatch per room in this long (joining takes < 1 s)
WATCH_EVERY_S = 2.0
REMOVE_RETRY_S = (1.0, 2.0, 4.0, 8.0)  # a failed removal from a LiveKit room is tried again after these
RECONCILE_EVERY_S = 30.0  # LiveKit's participants checked against the rooms' members this often


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

    def claim(self, what: str, every_s: float) -> bool:
        """True for the one caller (of every web process) that may do `what` now, at most once
        every `every_s`."""
        return self._keys.put(f"claim:{what}", every_s, only_new=True)

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
    recent. True if it dispatched."""
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
    for room in clients.voice_rooms():
        if at_once and not watch.serving(room):
            watch.release_dispatch(room)
        try:
            ensure_agent(svc, room)
        except Exception:
            logger.warning("could not dispatch the speech agent", exc_info=True,
                           extra={"room_id": room})


def watch_agents(svc: Services) -> None:
    """Background loop of the web process: agents in every voice room, and (one web process every
    RECONCILE_EVERY_S) nobody in a LiveKit room who is not a member of the app room."""
    while True:
        socketio.sleep(WATCH_EVERY_S)
        try:
            ensure_agents(svc)
        except Exception:  # a database or LiveKit error: the next round tries again
            logger.exception("checking the voice rooms' agents failed")
        try:
            if presence(svc).claim("reconcile", RECONCILE_EVERY_S):
                reconcile(svc)
        except Exception:  # the next round tries again
            logger.warning("checking the voice rooms' participants failed", exc_info=True)


def attributes_changed(svc: Services, user_id: str, attributes: dict[str, str]) -> None:
    """A speaker changed language or recognition engine: update their LiveKit attributes in each
    voice room they are in, so the agent follows from their next utterance."""
    lk = svc.livekit
    if lk is None:
        return
    for room in clients.voice_rooms(user_id):
        try:
            lk.set_attributes(room, user_id, attributes)
        except Exception:
            logger.warning("could not update the speaker's attributes in LiveKit", exc_info=True,
                           extra={"room_id": room})


def left_room(svc: Services, room: str, user_id: str) -> None:
    """Someone left the app room: their LiveKit participant goes too (whatever their browser
    does), so they hear and say nothing more there. LiveKit refreshes a connected participant's
    token, so a removal that failed is tried again (REMOVE_RETRY_S), unless they came back
    meanwhile; past that, the reconciliation (`reconcile`) removes them."""
    if svc.livekit is None:
        return
    for wait in (0.0, *REMOVE_RETRY_S):
        if wait:
            socketio.sleep(wait)
            if _members(svc, room) & {user_id}:
                return  # back in the room: they may stay
        try:
            if svc.livekit.remove_participant(room, user_id):
                logger.info("removed from the voice room: left the room", extra={"room_id": room})
            return
        except Exception:
            logger.warning("could not remove a participant from the voice room; trying again",
                           extra={"room_id": room})
    logger.warning("gave up removing a participant from the voice room for now",
                   extra={"room_id": room})


def _members(svc: Services, room: str) -> set[str]:
    with session_scope(svc.settings.database_url) as s:
        return set(s.scalars(select(Participant.user_id).where(Participant.room_id == room,
                                                               Participant.left_at.is_(None))))


def our_rooms(svc: Services, names: list[str]) -> list[str]:
    """Which of these LiveKit rooms are rooms of this deployment (another may share the server)."""
    if not names:
        return []
    with session_scope(svc.settings.database_url) as s:
        known = set(s.scalars(select(Room.id).where(Room.id.in_(names))))
    return [n for n in names if n in known]


def reconcile(svc: Services) -> int:
    """Remove from every LiveKit room of this deployment the participants (agents aside) who are
    not members of the app room now: a removal that failed for good, a webhook that never came.
    Rooms the database does not know belong to another deployment sharing the LiveKit server and
    are left alone. How many went."""
    from livekit import api
    lk = svc.livekit
    if lk is None:
        return 0
    removed = 0
    for room in our_rooms(svc, lk.list_rooms()):
        people = {p.identity for p in lk.participants(room)
                  if p.identity and p.kind != api.ParticipantInfo.Kind.AGENT}
        for identity in people - _members(svc, room) if people else ():
            try:
                removed += bool(lk.remove_participant(room, identity))
            except Exception:
                logger.warning("could not remove a participant who is not a member",
                               extra={"room_id": room})
    if removed:
        logger.info("removed from voice rooms: not members", extra={"count": removed})
    return removed


def room_metadata(terms: list[str]) -> dict[str, Any]:
    """A LiveKit room's metadata: the agent reads the glossary (its key terms) from it."""
    return {"app": "live-translator", "glossary": terms}


def glossary_changed(svc: Services, room: str, terms: list[str]) -> None:
    """The room's glossary changed: tell its LiveKit room, if it has one (whichever web process
    holds its voice sessions), for the agent."""
    if svc.livekit is None:
        return
    try:
        if room in svc.livekit.list_rooms():
            svc.livekit.set_metadata(room, room_metadata(terms))
    except Exception:
        logger.warning("could not update the LiveKit room's glossary", exc_info=True,
                       extra={"room_id": room})


def room_emptied(svc: Services, room: str) -> None:
    """The last participant left the app room: after a grace period (a reconnect is not a
    departure), delete its LiveKit room so the agent and any stale media session go with it."""
    if svc.livekit is None:
        return
    socketio.sleep(svc.settings.livekit.empty_room_grace_s)
    with session_scope(svc.settings.database_url) as s:
        back = s.scalars(select(Participant.id).where(Participant.room_id == room,
                                                      Participant.left_at.is_(None))).first()
    if back is not None or room in clients.voice_rooms():
        return
    try:
        if room in svc.livekit.list_rooms():
            svc.livekit.delete_room(room)
            logger.info("LiveKit room deleted: the app room is empty", extra={"room_id": room})
    except Exception:
        logger.warning("could not delete the LiveKit room", exc_info=True, extra={"room_id": room})
