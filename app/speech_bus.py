"""The web process's speech link over Redis streams (distributed mode; core.speech_bus has the
streams, agent.bus_server the other end).

A session's `start` goes to whichever speech process takes it; its audio, `stop` and `keyterms`
go, in order, to the session's own stream, which that process reads. Results come back on this
web process's reply stream, read here on one green thread and handled exactly as the socket link
handles them (app.speech_link). Every second this process looks at the speech processes (that
this web process is there is said by app/liveness.py): a session whose process has gone, or that
nobody took, is ended and its speaker told to start again (what they said before was delivered,
or is lost with that process's memory).
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask

from app import validation as v
from app.extensions import socketio
from app.speech_link import RESTARTED, AudioSession, SpeechLink, start_op
from core import speech_bus as bus
from core import wire
from core.settings import Settings

logger = logging.getLogger(__name__)

START_WAIT_S = 30.0  # a session no speech process took by then is ended
LATE_S = 60.0  # results for a session ended here are still delivered this long (a slow final)
LOST = "the speech link was interrupted; start speaking again"
ADOPT_IDLE_MS = 30_000  # an orphaned final taken this long ago and not acknowledged is taken again


class BusSpeechLink(SpeechLink):
    def __init__(self, app: Flask, settings: Settings, name: str | None = None) -> None:
        super().__init__(app, settings)
        # This web process's name (app/liveness.py says every 2 s that it is there).
        self.name = name or bus.new_name("web")
        self.r = bus.client(settings.redis_url, settings.speech_link_key, self.name)
        self._last = b"0-0"
        self._closed = False
        self._recent: dict[str, tuple[AudioSession, float]] = {}  # ended here: (session, until)

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "agent.speech_server"]  # the link is in its environment

    # -- sessions ------------------------------------------------------------------------------

    def begin(self, session: AudioSession) -> None:
        self.start()  # our child, if we have one and it is not running
        try:
            bus.wait_for_process(self.r, 60 if self.spawn else 5)
        except (ConnectionError, redis.RedisError):
            raise v.BadInput("speech_unavailable",
                             "speech recognition is not available right now", 503) from None
        session.began = time.monotonic()
        self.sessions[session.session_id] = session
        self.by_sid[session.sid] = session.session_id
        try:
            job: wire.StartOp = {**start_op(session), "replyTo": self.name,
                                 "deadline": time.time() + START_WAIT_S}
            self._post(bus.JOBS, job, maxlen=bus.JOBS_MAXLEN, ttl=None)
        except v.BadInput:
            self.end(session.session_id)
            raise

    def audio(self, session_id: str, pcm: bytes) -> None:
        self._post(bus.session_in(session_id), audio=pcm, maxlen=bus.SESSION_MAXLEN)

    def tell(self, session_id: str, msg: Mapping[str, Any]) -> None:
        self._post(bus.session_in(session_id), msg, maxlen=bus.SESSION_MAXLEN)

    def _post(self, stream: str, obj: Mapping[str, Any] | None = None, **kw: Any) -> None:
        try:
            bus.post(self.r, stream, obj, **kw)
        except redis.RedisError:
            self._lost()
            raise v.BadInput("speech_unavailable", LOST, 503) from None

    def _lost(self, message: str = LOST, only: set[str] | None = None) -> None:
        """End sessions (all, or those in `only`) and tell their speakers. Those in `only`: the
        speech process, if one still runs it, is asked to stop it (its last final still comes)."""
        for session in list(self.sessions.values()):
            if only is None or session.session_id in only:
                self.end(session.session_id)
                socketio.emit("speech-error", message, to=session.sid)
                if only is None:
                    continue  # Redis is away: a speech process still running it ends it when idle
                try:
                    bus.post(self.r, bus.session_in(session.session_id), wire.stop(),
                             maxlen=bus.SESSION_MAXLEN)
                except redis.RedisError:
                    pass  # that speech process ends it when idle

    def end(self, session_id: str) -> None:
        session = self.sessions.get(session_id)
        super().end(session_id)
        if session is not None:
            self._recent[session_id] = (session, time.monotonic() + LATE_S)

    def _session(self, session_id: str) -> AudioSession | None:
        found = self.sessions.get(session_id)
        if found is None and session_id in self._recent:
            found = self._recent[session_id][0]
        return found

    # -- results -------------------------------------------------------------------------------

    def read_forever(self) -> None:
        """This process's reply stream, on one green thread: each result handled as the socket
        link handles it; a bad one is logged and dropped. With Redis away, every session ends
        (its audio may not have reached anyone) and reading resumes when it is back."""
        stream = bus.replies(self.name)
        while not self._closed:
            try:
                got = bus.read(self.r, {stream: self._last}, 1000)
            except redis.RedisError:
                logger.warning("speech link: Redis is unavailable; trying again")
                self._lost()
                socketio.sleep(1.0)
                continue
            except Exception:  # noqa: BLE001 - whatever it was, this reader must go on
                logger.exception("speech link: reading failed; trying again")
                socketio.sleep(1.0)
                continue
            for _, eid, fields in got:
                self._last = eid
                msg = bus.decode(self.r, stream, fields)
                if isinstance(msg, dict) and self._from_owner(msg, bus.sender(fields)):
                    self._handle(msg)
                else:
                    logger.warning("a message on the speech link was not ours; dropped")
            if got:
                try:
                    bus.trim(self.r, stream, got[-1][1])  # handled: not kept in Redis
                except redis.RedisError:
                    pass  # trimmed with the next batch (the stream also expires)

    def _from_owner(self, msg: dict[str, Any], sender: str) -> bool:
        """Whether a result may be handled: a session's `started` from the process it names (the
        first to say so), anything else about a session only from that process."""
        session = self._session(str(msg.get("session")))
        if session is None:
            return msg.get("type") != "started"  # about no session of ours: nothing to take over
        if msg.get("type") == "started":
            return not session.owner and sender == msg.get("owner")
        return bool(session.owner) and sender == session.owner

    # -- finals whose web process died ----------------------------------------------------------

    def adopt_forever(self) -> None:
        """The orphans stream, in the consumer group every web process shares: each final of a
        session whose web process is gone is handled by one of us (its speaker is in the final),
        acknowledged only once handled; one taken by a web process that died too is claimed
        again after ADOPT_IDLE_MS."""
        ready, claimed_at = False, 0.0
        while not self._closed:
            try:
                if not ready:
                    bus.join_group(self.r, bus.ORPHANS, bus.ORPHANS_GROUP)
                    ready = True
                got = bus.read(self.r, {bus.ORPHANS: b">"}, 1000, 10,
                               group=(bus.ORPHANS_GROUP, self.name))
                if time.monotonic() - claimed_at > ADOPT_IDLE_MS / 1000:
                    claimed_at = time.monotonic()
                    _, stale, *_ = self.r.xautoclaim(bus.ORPHANS, bus.ORPHANS_GROUP, self.name,
                                                     ADOPT_IDLE_MS, count=50)
                    got += [(bus.ORPHANS.encode(), eid, fields) for eid, fields in stale if fields]
            except redis.ResponseError:
                ready = False  # the stream or its group went (Redis restarted)
                socketio.sleep(1.0)
                continue
            except redis.RedisError:
                socketio.sleep(1.0)
                continue
            for _, eid, fields in got:
                msg = bus.decode(self.r, bus.ORPHANS, fields)
                try:
                    if isinstance(msg, dict):
                        self._adopt(msg)
                    else:
                        logger.warning("an orphaned final was not ours; dropped")
                except Exception:  # noqa: BLE001 - that one is dropped; the next goes on
                    logger.exception("an orphaned final could not be delivered")
                try:
                    pipe = self.r.pipeline(transaction=False)
                    pipe.xack(bus.ORPHANS, bus.ORPHANS_GROUP, eid)
                    pipe.xdel(bus.ORPHANS, eid)
                    pipe.execute()
                except redis.RedisError:
                    pass  # claimed again later: handling it twice changes nothing

    def _adopt(self, msg: dict[str, Any]) -> None:
        who = msg.get("who")
        if msg.get("type") != "final" or not isinstance(who, dict):
            return
        user, room, language, solo = (who.get(k) for k in ("user", "room", "language", "solo"))
        if not (isinstance(user, str) and isinstance(language, str)
                and isinstance(room, str | None) and isinstance(solo, str | None)):
            logger.warning("an orphaned final did not say who said it; dropped")
            return
        session = AudioSession(str(msg.get("session"))[:64], "", user, room, language, solo, 16000)
        self._final(session, msg)

    # -- being there, and who else is ------------------------------------------------------------

    def supervise(self) -> None:
        """Every second: restart our child if it died; end the sessions of speech processes that
        have gone, and those nobody took."""
        while not self._closed:
            socketio.sleep(1.0)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - whatever it was, the next second tries again
                logger.exception("the speech link's check failed")

    def tick(self) -> None:
        try:
            found = bus.processes(self.r)
        except redis.RedisError:
            return  # the reader notices, and ends the sessions
        if self.spawn and self.proc is not None and self.proc.poll() is not None:
            self.start()
        there = {p["name"] for p in found}
        now = time.monotonic()
        for sid in [k for k, (_, until) in self._recent.items() if until < now]:
            del self._recent[sid]
        gone = {s.session_id for s in list(self.sessions.values())
                if (s.owner and s.owner not in there)
                or (not s.owner and now - s.began > START_WAIT_S)}
        if gone:
            logger.warning("ending sessions whose speech process is gone",
                           extra={"sessions": len(gone)})
            self._lost(RESTARTED, gone)

    def status(self) -> dict[str, Any]:
        try:
            found = bus.processes(self.r)
        except redis.RedisError:
            found = []
        out: dict[str, Any] = {"link": "redis", "managed": self.spawn, "sessions": len(self.sessions),
                               "restarts": self.restarts, "running": bool(found),
                               "connected": bool(found),
                               "processes": [{"name": p["name"], "sessions": p.get("sessions", 0),
                                              "rooms": len(p.get("rooms") or [])} for p in found]}
        if self.spawn:
            out["pid"] = self.proc.pid if self.proc and self.proc.poll() is None else None
        if found:
            first = dict(found[0])
            for k in ("name", "sessions", "rooms", "pid", "host"):
                first.pop(k, None)
            out["stt"] = first
        return out

    def close(self) -> None:
        self._closed = True
        super().close()


def start_link(app: Flask, settings: Settings, autostart: bool, name: str | None = None) -> BusSpeechLink:
    """The Redis link: its reader and its supervisor on green threads; our own speech process
    started now, or on first use, unless SPEECH_MANAGED=0 or SPEECH_SOCKET says speech processes
    are run separately."""
    lk = BusSpeechLink(app, settings, name)
    socketio.start_background_task(lk.read_forever)
    socketio.start_background_task(lk.adopt_forever)
    socketio.start_background_task(lk.supervise)
    if lk.spawn and autostart and settings.speech.autostart:
        lk.start()
    return lk
