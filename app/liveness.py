"""Distributed: which web process holds whom, so a web process that dies does not leave its users
in their rooms for ever.

A participant's departure is decided by the web process holding their socket (leave-room, or a
disconnect past the grace period). If that process is killed, nobody decides it: they stay
participants, listeners of every fan-out and readers of history, though they are gone. So every
web process says every 2 s that it is there (`lt:web:alive:<name>`, also what the speech
processes look at) and when it was last seen (`lt:web:seen:<name>`), and keeps the set of
(room, user) it holds (`lt:web:holds:<name>`). Every 10 s each web process looks for holders that
stopped saying so: once their users have had the disconnect grace to come back on another
process, those no live process holds are departed (by one web process: a lock), as if their own
process had done it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from core import speech_bus

logger = logging.getLogger(__name__)

ALIVE = speech_bus.WEB_ALIVE
SEEN = "lt:web:seen:"
HOLDS = "lt:web:holds:"
NAMES = "lt:web:names"  # every web process that said it is there, until it is swept
BEAT_EVERY_S = 2.0
SWEEP_EVERY_S = 10.0
ALIVE_TTL_S = 10
SEEN_TTL_S = 86_400


class Liveness:
    def __init__(self, redis_url: str) -> None:
        self.r = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=1,
                                      decode_responses=True)
        self.name = speech_bus.new_name("web")

    def hold(self, room_id: str, user_id: str) -> None:
        self._do(lambda: self.r.sadd(HOLDS + self.name, f"{room_id}|{user_id}"))

    def release(self, room_id: str, user_id: str) -> None:
        self._do(lambda: self.r.srem(HOLDS + self.name, f"{room_id}|{user_id}"))

    @staticmethod
    def _do(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except redis.RedisError:  # the next join or leave writes again; a sweep may miss one
            logger.warning("could not record who this web process holds")

    def beat(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(ALIVE + self.name, "1", ex=ALIVE_TTL_S)
        pipe.set(SEEN + self.name, str(time.time() * 1000.0), ex=SEEN_TTL_S)
        pipe.sadd(NAMES, self.name)
        pipe.execute()

    def beat_forever(self, sleep: Callable[[float], Any]) -> None:
        """Say this process is there every 2 s (nothing else on this loop: a slow sweep must not
        make it look gone)."""
        while True:
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - Redis away: say it again in 2 s
                logger.warning("could not say this web process is there")
            sleep(BEAT_EVERY_S)

    def sweep_forever(self, sleep: Callable[[float], Any], grace_s: float,
                      depart: Callable[[str, str, float], None]) -> None:
        """Every 10 s, depart the users of web processes that have gone (see sweep)."""
        while True:
            sleep(SWEEP_EVERY_S)
            try:
                self.sweep(grace_s, depart)
            except Exception:  # noqa: BLE001 - the next sweep tries again
                logger.warning("could not look for web processes that are gone", exc_info=True)

    def sweep(self, grace_s: float, depart: Callable[[str, str, float], None]) -> int:
        """Depart whom gone web processes held, unless a live one holds them now (they came back
        there): `depart(room, user, joined_before)`, which leaves alone anyone who joined again
        after `joined_before` (the gone one's last beat plus a beat and a margin: it may have
        taken a join in its last seconds). One web process per gone one (a lock). Returns how
        many were departed."""
        n = 0
        for name, seen, held in self.gone_holders(grace_s):
            if not self.r.set("lt:lock:holder:" + name, self.name, nx=True, px=60_000):
                continue  # another web process is at it
            for room_id, user_id in held:
                if not self.held_by_live(room_id, user_id):  # asked now, each: not a snapshot
                    depart(room_id, user_id, seen + (BEAT_EVERY_S + 1.0) * 1000.0)
                    n += 1
            self.forget(name)
            logger.warning("departed the users of a web process that is gone", extra={"count": n})
        return n

    def _names(self) -> list[str]:
        names: Any = self.r.smembers(NAMES)
        return sorted(str(n) for n in names)

    def gone_holders(self, grace_s: float) -> list[tuple[str, float, list[tuple[str, str]]]]:
        """(name, last seen (epoch ms), [(room, user)]) of each web process that stopped saying
        it is there more than `grace_s` ago."""
        out = []
        now = time.time() * 1000.0
        for name in self._names():
            if self.r.exists(ALIVE + name):
                continue
            # Not known (its record expired): as if it went just now, past the grace.
            seen = float(self.r.get(SEEN + name) or 0.0) or now - (ALIVE_TTL_S + grace_s) * 1000.0
            if now - seen < (ALIVE_TTL_S + grace_s) * 1000.0:
                continue  # its users are still within the grace to come back
            members: Any = self.r.smembers(HOLDS + name)
            held = [(str(m).split("|", 1)[0], str(m).split("|", 1)[1]) for m in members if "|" in m]
            out.append((name, seen, held))
        return out

    def held_elsewhere(self, room_id: str, user_id: str) -> bool:
        """Whether another live web process holds a socket of this user in the room (a second tab
        or device there): then leaving here is no departure. Redis away: False (depart, as a
        single process would)."""
        member = f"{room_id}|{user_id}"
        try:
            return any(self.r.sismember(HOLDS + name, member) and self.r.exists(ALIVE + name)
                       for name in self._names() if name != self.name)
        except redis.RedisError:
            logger.warning("could not ask who else holds a user; departing them")
            return False

    def held_by_live(self, room_id: str, user_id: str) -> bool:
        member = f"{room_id}|{user_id}"
        return any(self.r.sismember(HOLDS + name, member) and self.r.exists(ALIVE + name)
                   for name in self._names())

    def forget(self, name: str) -> None:
        self.r.delete(HOLDS + name, SEEN + name)
        self.r.srem(NAMES, name)
