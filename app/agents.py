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
from core.models import Participant

logger = logging.getLogger(__name__)

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
    """Background loop of the web process."""
    while True:
        socketio.sleep(WATCH_EVERY_S)
        try:
            ensure_agents(svc)
        except Exception:  # a database or LiveKit error: the next round tries again
            logger.exception("checking the voice rooms' agents failed")


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
    does), so they hear and say nothing more there."""
    if svc.livekit is None:
        return
    try:
        if svc.livekit.remove_participant(room, user_id):
            logger.info("removed from the voice room: left the room", extra={"room_id": room})
    except Exception:
        logger.warning("could not remove a participant from the voice room", exc_info=True,
                       extra={"room_id": room})


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
    socketio.sleep(svc.settings.empty_room_grace_s)
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
