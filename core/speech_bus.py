"""The speech link over Redis streams (distributed mode): web processes, workers and any number of
speech processes, on any hosts that reach the same Redis.

Streams and keys (every entry has `k`, the kind — J for a JSON object, A for PCM16 audio — and
`b`, its bytes):
  lt:speech:jobs         new audio sessions (`start`) and synthesis and voice-list requests; every
                         speech process reads it in the consumer group `speech`, so each job goes
                         to exactly one of them
  lt:speech:to:<name>    requests for one speech process (`say`: a line for the voice room its
                         LiveKit agent serves)
  lt:speech:in:<session> one session's audio, `stop` and `keyterms`, in order; read by the speech
                         process that took its `start`
  lt:speech:out:<name>   results and replies for one requester (a web process's sessions, or one
                         request's answer)
  lt:speech:alive:<name> a speech process's status (JSON), refreshed every 2 s, gone 6 s after it
                         stops: who is there, its sessions, the rooms its agent serves
  lt:speech:names        the set of speech process names (those whose status is gone are dropped
                         from it by whoever reads it)
  lt:web:alive:<name>    a web process is there (its sessions are ended when it is gone)
  lt:speech:orphans      finals of sessions whose web process is gone (each with who said it),
                         read by every web process in the consumer group `web`: what someone said
                         before their web process died is still delivered (idempotently)
What was read is removed as it is read (jobs once taken, a session's audio once fed, replies once
handled): people's audio and words do not stay in Redis. A job carries `deadline` (epoch
seconds): one nobody took by then is dropped unread, so the hosts' clocks must agree (NTP).

Every entry is signed: `s` the sender's name, `t` when it was sent (epoch ms) and `m` an
HMAC-SHA256, under the link's shared key (core.settings: SPEECH_LINK_SECRET, or one derived from
SECRET_KEY), of the stream it was written to, its kind, sender, time and body. An entry that is
not signed with the key, was signed for another stream (copied from one), is older than
MAX_AGE_S or holds a number JSON does not have (NaN, Infinity) is dropped unread: a client that
reaches Redis without the key can neither post a result, a job or audio nor pass as a process.
Who may send what is checked by the readers: a session's results only from the speech process that
took its `start`, its audio only from the web process that started it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

import redis

JOBS = "lt:speech:jobs"
GROUP = "speech"
ORPHANS = "lt:speech:orphans"
ORPHANS_GROUP = "web"
ALIVE = "lt:speech:alive:"
NAMES = "lt:speech:names"
WEB_ALIVE = "lt:web:alive:"
ALIVE_EVERY_S = 2.0
ALIVE_TTL_S = 6
JOBS_MAXLEN = 10_000
SESSION_MAXLEN = 5_000  # chunks: minutes of audio at the page's 100-250 ms a chunk
REPLIES_MAXLEN = 10_000
STREAM_TTL_S = 300  # a stream nobody writes to any more goes (a session's, a requester's)
MAX_AGE_S = STREAM_TTL_S + 60  # an entry signed longer ago than this (or this far ahead) is refused
MAX_DEADLINE_S = 3600  # a job's deadline is at most this far ahead


class BusRedis(redis.Redis):
    """A Redis client of the speech link: it knows the link's key and whom it speaks for."""

    key: bytes = b""
    sender: str = ""


def to_process(name: str) -> str:
    return f"lt:speech:to:{name}"


def session_in(session_id: str) -> str:
    return f"lt:speech:in:{session_id}"


def replies(name: str) -> str:
    return f"lt:speech:out:{name}"


def new_name(kind: str) -> str:
    """A name for this process on the bus: host, pid and a random part (a restarted process with
    the same pid is someone else)."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def client(redis_url: str, key: bytes, sender: str, timeout_s: float = 5.0) -> BusRedis:
    """A client for the bus (bytes in and out) signing what it posts with `key` as `sender`.
    Blocking reads pass their own, shorter, block time; the socket timeout only has to be longer
    than those. A `rediss://` URL is TLS; a user and password in the URL are Redis AUTH (ACL)."""
    if len(key) < 16:
        raise ValueError("the speech link's key is too short")
    pool = redis.ConnectionPool.from_url(redis_url, socket_timeout=timeout_s,
                                         socket_connect_timeout=2, health_check_interval=30)
    r = BusRedis(connection_pool=pool)
    r.key, r.sender = key, sender
    return r


def _mac(key: bytes, stream: str | bytes, kind: bytes, sender: bytes, at: bytes, body: bytes) -> bytes:
    name = stream.encode() if isinstance(stream, str) else stream
    msg = b"\0".join((name, kind, sender, at, hashlib.sha256(body).digest()))
    return hmac.new(key, msg, hashlib.sha256).hexdigest().encode()


def entry(r: BusRedis, stream: str, obj: Mapping[str, Any] | None = None,
          audio: bytes | None = None) -> dict[bytes, bytes]:
    """One signed entry for `stream`."""
    kind, body = (b"A", audio) if audio is not None else (
        b"J", json.dumps(obj, separators=(",", ":"), allow_nan=False).encode())
    sender, at = r.sender.encode(), str(int(time.time() * 1000)).encode()
    return {b"k": kind, b"b": body, b"s": sender, b"t": at,
            b"m": _mac(r.key, stream, kind, sender, at, body)}


def post(r: BusRedis, stream: str, obj: Mapping[str, Any] | None = None, *,
         audio: bytes | None = None, maxlen: int = REPLIES_MAXLEN,
         ttl: int | None = STREAM_TTL_S) -> None:
    """Append one signed entry to `stream` (trimmed to about `maxlen`; gone `ttl` s after the last,
    unless None: the job streams, whose consumer group must stay)."""
    pipe = r.pipeline(transaction=False)
    pipe.xadd(stream, entry(r, stream, obj, audio), maxlen=maxlen,  # type: ignore[arg-type]
              approximate=True)
    if ttl is not None:
        pipe.expire(stream, ttl)
    pipe.execute()


Entry = tuple[bytes, bytes, dict[bytes, bytes]]  # (stream, entry id, fields)


def read(r: redis.Redis, streams: dict[str, bytes], block_ms: int, count: int = 100,
         group: tuple[str, str] | None = None) -> list[Entry]:
    """Entries after the given ids (or, with `group` (group, consumer), the group's new ones),
    waiting up to `block_ms` for some."""
    if group is None:
        got: Any = r.xread(streams, count=count, block=block_ms)  # type: ignore[arg-type]
    else:
        got = r.xreadgroup(group[0], group[1], streams, count=count,  # type: ignore[arg-type]
                           block=block_ms)
    return [(stream, eid, fields) for stream, entries in (got or []) for eid, fields in entries]


def join_group(r: redis.Redis, stream: str, group: str) -> None:
    """Make `group` on `stream` (and the stream) unless it is there: it reads from the stream's
    start, so what was posted before any reader came is read too."""
    try:
        r.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def trim(r: redis.Redis, stream: str | bytes, last: bytes) -> None:
    """Remove what was read from `stream`, up to and including entry `last`."""
    ms, _, seq = last.partition(b"-")
    r.xtrim(stream, minid=f"{ms.decode()}-{int(seq or 0) + 1}", approximate=False)


def say_alive(r: redis.Redis, name: str, status: dict[str, Any]) -> None:
    pipe = r.pipeline(transaction=False)
    pipe.set(ALIVE + name, json.dumps(status), ex=ALIVE_TTL_S)
    pipe.sadd(NAMES, name)
    pipe.execute()


def processes(r: redis.Redis) -> list[dict[str, Any]]:
    """The speech processes there now: their statuses, each with its `name` (two round trips
    however large Redis is; names whose status is gone are dropped from the set)."""
    names = sorted(n.decode() for n in r.smembers(NAMES))  # type: ignore[union-attr]
    raws = r.mget([ALIVE + n for n in names]) if names else []
    out, gone = [], []
    for name, raw in zip(names, raws, strict=True):
        if not raw:
            gone.append(name)
            continue
        try:
            status = json.loads(raw)
        except ValueError:
            continue
        if isinstance(status, dict):
            out.append(dict(status, name=name))
    if gone:
        r.srem(NAMES, *gone)
    return out


def wait_for_process(r: redis.Redis, wait_s: float) -> list[dict[str, Any]]:
    """The speech processes there, waiting up to `wait_s` for one to come; ConnectionError if
    none does."""
    deadline = time.monotonic() + wait_s
    while True:
        found = processes(r)
        if found:
            return found
        if time.monotonic() >= deadline:
            raise ConnectionError("no speech process is running")
        time.sleep(0.2)


def request(r: BusRedis, msg: Mapping[str, Any], timeout_s: float, wait_s: float | None = None,
            to: str | None = None) -> dict[str, Any]:
    """One request (`op` and its fields) to any speech process (or to the one named `to`); its
    reply. Waits up to `wait_s` (default `timeout_s`) for a speech process to be there (one named
    was just seen); ConnectionError when none is, TimeoutError when no reply came within
    `timeout_s`."""
    rid = uuid.uuid4().hex
    back = replies("req-" + rid)
    job = dict(msg, id=rid, replyTo="req-" + rid, deadline=time.time() + timeout_s)
    if to is None:
        wait_for_process(r, timeout_s if wait_s is None else wait_s)
    post(r, to_process(to) if to else JOBS, job, maxlen=JOBS_MAXLEN, ttl=None)
    deadline = time.monotonic() + timeout_s
    last = b"0-0"
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the speech process did not answer in time")
            for stream, eid, fields in read(r, {back: last}, max(1, int(min(left, 1.0) * 1000)), 10):
                last = eid
                reply = decode(r, stream, fields)
                if isinstance(reply, dict) and reply.get("id") == rid:
                    return reply
    finally:
        r.delete(back)


def sender(fields: dict[bytes, bytes]) -> str:
    """Who signed an entry (check it with `decode` first)."""
    return fields.get(b"s", b"").decode(errors="replace")


def decode(r: BusRedis, stream: str | bytes, fields: dict[bytes, bytes]) -> dict[str, Any] | bytes | None:
    """An entry of `stream`'s JSON object, or its audio bytes; None for anything else: unsigned,
    signed with another key or for another stream, too old, malformed, or with NaN/Infinity."""
    kind, body, who, at, mac = (fields.get(k) for k in (b"k", b"b", b"s", b"t", b"m"))
    if body is None or kind is None or who is None or at is None or mac is None:
        return None
    if not hmac.compare_digest(mac, _mac(r.key, stream, kind, who, at, body)):
        return None
    try:
        age_s = time.time() - int(at) / 1000
    except ValueError:
        return None
    if abs(age_s) > MAX_AGE_S:
        return None
    if kind == b"A":
        return body
    if kind != b"J":
        return None
    try:
        obj = json.loads(body, parse_constant=_no_constant)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the link takes")


def deadline_ok(value: Any) -> bool:
    """A job's deadline: a finite epoch time, not passed, at most MAX_DEADLINE_S ahead."""
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and time.time() <= value <= time.time() + MAX_DEADLINE_S)
