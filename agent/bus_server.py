"""The speech process on the Redis speech link (distributed mode; core.speech_bus has the streams).

Any number of these share the work: each takes jobs from `lt:speech:jobs` in one consumer group,
so a new audio session or a synthesis goes to exactly one of them. The one that takes a session's
`start` reads that session's own stream (audio, `stop`, `keyterms`, in the order the web process
wrote them) on a thread of its own, and sends the results to the web process's reply stream. It
says it is there (and what it serves) every 2 s; a web process that stops saying so has its
sessions ended here, and a speech process that stops has its sessions ended by the web process.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis

from agent.connection import Connection, Meter, Voices
from core import speech, wire
from core import speech_bus as bus
from engines.stt.registry import STTRegistry

logger = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,160}$")
SEND_TRIES_S = 10.0  # a result is retried this long while Redis is away (a final is someone's words)
WEB_CHECK_S = 5.0
REDIS_AWAY_S = 10.0  # a session whose stream cannot be read this long is ended
IDLE_S = 120.0  # a session whose web process sent nothing this long is ended (it forgot it)
CONSUMER_IDLE_MS = 3_600_000  # consumers (speech processes) gone this long leave the group


class BusPeer(Connection):
    """The requester behind one job (a web process's session, or one request): what the
    Connection's handlers send goes to its reply stream."""

    def __init__(self, server: BusServer, reply_to: str) -> None:
        super().__init__(None, server.stt, server.voices, server.meter, server.media)
        self.server = server
        self.reply_to = reply_to
        self.who: Mapping[str, Any] = {}  # a session's speaker (core.wire.Who), from its start
        self.orphaned = False  # its web process is gone: finals go to the orphans stream

    def send(self, obj: Mapping[str, Any]) -> None:
        stream = bus.replies(self.reply_to)
        if self.orphaned:
            if obj.get("type") != "final":
                return  # nobody is there for interims, notices or the end
            stream, obj = bus.ORPHANS, dict(obj, who=self.who)
        deadline = time.monotonic() + SEND_TRIES_S
        while True:
            try:
                bus.post(self.server.r, stream, obj, maxlen=bus.REPLIES_MAXLEN,
                         ttl=None if stream == bus.ORPHANS else bus.STREAM_TTL_S)
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    logger.warning("a result could not be sent over the speech link; dropped",
                                   extra={"type": str(obj.get("type"))[:16]})
                    return
                time.sleep(0.5)


class BusServer:
    """One speech process on the bus: takes jobs, runs sessions, says it is there."""

    def __init__(self, redis_url: str, key: bytes, stt: STTRegistry, voices: Voices | None = None,
                 meter: Meter | None = None, media: Any = None, name: str | None = None) -> None:
        self.name = name or bus.new_name("speech")
        self.r = bus.client(redis_url, key, self.name)
        self.stt = stt
        self.voices = voices
        self.meter = meter
        self.media = media
        self.own = bus.to_process(self.name)
        self.sessions: dict[str, BusPeer] = {}
        self.stopped = threading.Event()
        self._rescued: set[str] = set()  # web processes whose reply streams were rescued
        self._rescue_lock = threading.Lock()

    # -- running -------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until the process ends (Redis away: retried every second)."""
        threading.Thread(target=self._alive_forever, name="speech-alive", daemon=True).start()
        logger.info("speech process on the Redis link", extra={"bus_name": self.name,
                                                                 "stt": self.stt.default})
        self._jobs_forever()

    def _groups(self) -> None:
        for stream in (bus.JOBS, self.own):
            # From the start of the stream: jobs posted before any speech process was there are
            # taken (their deadlines drop those nobody waits for any more).
            bus.join_group(self.r, stream, bus.GROUP)

    def _jobs_forever(self) -> None:
        ready = False
        while not self.stopped.is_set():
            try:
                if not ready:
                    self._groups()
                    ready = True
                got = bus.read(self.r, {bus.JOBS: b">", self.own: b">"}, 2000, 4,
                               group=(bus.GROUP, self.name))
            except redis.ResponseError as exc:  # NOGROUP: the stream went (Redis restarted)
                logger.warning("speech jobs: %s; joining again", type(exc).__name__)
                ready = False
                time.sleep(0.5)
                continue
            except redis.RedisError:
                logger.warning("speech jobs: Redis is unavailable; trying again", exc_info=True)
                ready = False
                time.sleep(1.0)
                continue
            for stream, eid, fields in got:
                try:
                    # Taken is taken: a job is not given to another process if this one dies
                    # with it (its requester times out, or sees this process gone). And gone from
                    # Redis: it may carry someone's words.
                    pipe = self.r.pipeline(transaction=False)
                    pipe.xack(stream, bus.GROUP, eid)
                    pipe.xdel(stream, eid)
                    pipe.execute()
                except redis.RedisError:
                    logger.warning("speech jobs: could not acknowledge", exc_info=True)
                self.job(stream, fields)

    def job(self, stream: str | bytes, fields: dict[bytes, bytes]) -> None:
        """One job. Whatever is wrong with it is logged (its kind only) and it is dropped."""
        msg = bus.decode(self.r, stream, fields)
        if not isinstance(msg, dict):
            logger.warning("a speech job was not a signed JSON object; dropped")
            return
        reply_to = msg.get("replyTo")
        if not isinstance(reply_to, str) or not NAME.match(reply_to) or not (
                reply_to == bus.sender(fields) or reply_to.startswith("req-")):
            # Results go to the sender itself, or to a one-off request's stream: never to another
            # process's reply stream.
            logger.warning("a speech job had no reply stream of its sender's; dropped")
            return
        if not bus.deadline_ok(msg.get("deadline")):
            return  # nobody waits for it any more (or a deadline that is no time)
        problem = _invalid(msg)
        if problem:
            logger.warning("a speech job was malformed; dropped", extra={"problem": problem})
            return
        peer = BusPeer(self, reply_to)
        try:
            peer._control(msg)
        except Exception as exc:  # its type only: a job may carry someone's words
            logger.warning("a speech job failed; dropped", extra={"error": type(exc).__name__})
            return
        sid = str(msg.get("session", ""))
        if msg.get("op") == "start" and sid in peer.sessions:
            peer.who = {k: msg.get(k) for k in wire.fields(wire.Who)}  # as its start said
            self.sessions[sid] = peer
            started: wire.Started = {"type": "started", "session": sid, "owner": self.name}
            peer.send(started)
            threading.Thread(target=self._read_session, args=(peer, sid), name=f"in-{sid[:8]}",
                             daemon=True).start()
        elif msg.get("op") == "start":
            logger.warning("a speech session could not start; dropped")

    def _read_session(self, peer: BusPeer, sid: str) -> None:
        """Feed one session from its stream until it ends (or its web process is gone)."""
        stream, last = bus.session_in(sid), b"0-0"
        checked = away_since = heard = time.monotonic()
        try:
            while sid in peer.sessions:
                try:
                    got = bus.read(self.r, {stream: last}, 1000, 50)
                    now = away_since = time.monotonic()
                    if got:
                        heard = now
                        bus.trim(self.r, stream, got[-1][1])  # fed: not kept in Redis
                    if now - checked > WEB_CHECK_S:
                        checked = now
                        if not self.r.exists(bus.WEB_ALIVE + peer.reply_to):
                            logger.info("a web process is gone; ending its session",
                                        extra={"session": sid})
                            peer.orphaned = True  # its last final goes to whoever is there
                            self._rescue(peer.reply_to)
                            self._close(peer, sid)
                        elif now - heard > IDLE_S:
                            logger.info("nothing came for a session; ending it", extra={"session": sid})
                            self._close(peer, sid)
                            heard = now
                except redis.RedisError:
                    if time.monotonic() - away_since > REDIS_AWAY_S:
                        logger.warning("the speech link is away; ending a session",
                                       extra={"session": sid})
                        self._close(peer, sid)
                        away_since = time.monotonic()
                    time.sleep(0.5)
                    continue
                for _, eid, fields in got:
                    last = eid
                    self._frame(peer, sid, stream, fields)
        finally:
            self.sessions.pop(sid, None)
            try:
                self.r.delete(stream)
            except redis.RedisError:
                pass  # it expires on its own

    def _frame(self, peer: BusPeer, sid: str, stream: str, fields: dict[bytes, bytes]) -> None:
        item = bus.decode(self.r, stream, fields)
        if item is not None and bus.sender(fields) != peer.reply_to:
            item = None  # signed, but not by the web process whose session it is
        session = peer.sessions.get(sid)
        if isinstance(item, bytes):
            if session is not None and len(item) % 2 == 0:
                session.feed(item)
        elif isinstance(item, dict) and item.get("op") in ("stop", "keyterms"):
            try:
                peer._control(dict(item, session=sid))
            except Exception as exc:  # noqa: BLE001 - that one message is dropped
                logger.warning("a session message failed; dropped", extra={"error": type(exc).__name__})
        else:
            logger.warning("a session message was not ours; dropped")

    def _rescue(self, web: str) -> None:
        """A web process is gone: the finals of our sessions still in its reply stream (sent,
        perhaps not handled when it died) go to the orphans stream, where a live web process
        takes them (again, if the dead one had: they are idempotent)."""
        with self._rescue_lock:
            if web in self._rescued:
                return
            self._rescued.add(web)
        time.sleep(0.2)  # a final being sent to the dead stream as the session was orphaned
        stream = bus.replies(web)
        entries: Any = self.r.xrange(stream)
        for _, fields in entries:
            msg = bus.decode(self.r, stream, fields)
            peer = self.sessions.get(str(msg.get("session"))) if isinstance(msg, dict) else None
            if isinstance(msg, dict) and peer is not None and msg.get("type") == "final":
                bus.post(self.r, bus.ORPHANS, dict(msg, who=peer.who), maxlen=bus.REPLIES_MAXLEN,
                         ttl=None)

    @staticmethod
    def _close(peer: BusPeer, sid: str) -> None:
        session = peer.sessions.get(sid)
        if session is not None:
            session.close()  # its last final still goes out, and then `ended`

    # -- saying it is there --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return dict(self.stt.provider(self.stt.default).status(), engines=self.stt.status(),
                    sessions=len(self.sessions), pid=os.getpid(), host=socket.gethostname(),
                    rooms=self.media.serving() if self.media is not None else [])

    def _alive_forever(self) -> None:
        beats = 0
        while not self.stopped.is_set():
            try:
                bus.say_alive(self.r, self.name, self.status())
                self.r.expire(self.own, bus.STREAM_TTL_S)
                beats += 1
                if beats % 300 == 1:  # at start, then every 10 minutes
                    self._forget_old_consumers()
            except Exception:  # Redis away, or a status that failed: say it next time
                logger.warning("could not say this speech process is there", exc_info=True)
            time.sleep(bus.ALIVE_EVERY_S)

    def _forget_old_consumers(self) -> None:
        """Speech processes that are gone leave the consumer group (each restart is a new one)."""
        consumers: Any = self.r.xinfo_consumers(bus.JOBS, bus.GROUP)
        for c in consumers:
            name = c.get("name")
            if c.get("idle", 0) > CONSUMER_IDLE_MS and c.get("pending", 0) == 0 and name:
                self.r.xgroup_delconsumer(bus.JOBS, bus.GROUP, name)

    def gone(self) -> None:
        """Say at once that this process is going (its sessions' web processes end them), and
        stop taking jobs."""
        self.stopped.set()
        try:
            self.r.delete(bus.ALIVE + self.name, self.own)
            self.r.srem(bus.NAMES, self.name)
            self.r.xgroup_delconsumer(bus.JOBS, bus.GROUP, self.name)
        except redis.RedisError:
            pass


def _invalid(msg: dict[str, Any]) -> str:
    """What is wrong with a job's fields ("" when nothing): a known op, and for `start` a session
    id, a language and a sample rate we take."""
    op = msg.get("op")
    if op not in wire.JOB_OPS:
        return "op"
    if op == "start":
        rate, language = msg.get("rate"), msg.get("language")
        if not isinstance(msg.get("session"), str) or len(msg["session"]) != speech.SESSION_ID_LEN:
            return "session"
        if not isinstance(language, str) or not 2 <= len(language) <= 16:
            return "language"
        if not isinstance(rate, int) or isinstance(rate, bool) or rate not in speech.SAMPLE_RATES:
            return "rate"
    return ""
