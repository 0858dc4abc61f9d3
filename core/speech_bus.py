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
What was read is removed as it is read (jobs once taken, a session's audio once fed, replies once
handled): people's audio and words do not stay in Redis. A job carries `deadline` (epoch
seconds): one nobody took by then is dropped unread, so the hosts' clocks must agree (NTP).
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import Any

import redis

JOBS = "lt:speech:jobs"
GROUP = "speech"
ALIVE = "lt:speech:alive:"
NAMES = "lt:speech:names"
WEB_ALIVE = "lt:web:alive:"
ALIVE_EVERY_S = 2.0
ALIVE_TTL_S = 6
JOBS_MAXLEN = 10_000
SESSION_MAXLEN = 5_000  # chunks: minutes of audio at the page's 100-250 ms a chunk
REPLIES_MAXLEN = 10_000
STREAM_TTL_S = 300  # a stream nobody writes to any more goes (a session's, a requester's)


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


def client(redis_url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client for the bus (bytes in and out). Blocking reads pass their own, shorter, block
    time; the socket timeout only has to be longer than those."""
    return redis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=2,
                                health_check_interval=30)


def entry(obj: dict[str, Any] | None = None, audio: bytes | None = None) -> dict[bytes, bytes]:
    if audio is not None:
        return {b"k": b"A", b"b": audio}
    return {b"k": b"J", b"b": json.dumps(obj, separators=(",", ":")).encode()}


def post(r: redis.Redis, stream: str, obj: dict[str, Any] | None = None, *,
         audio: bytes | None = None, maxlen: int = REPLIES_MAXLEN,
         ttl: int | None = STREAM_TTL_S) -> None:
    """Append one entry to `stream` (trimmed to about `maxlen`; gone `ttl` s after the last, unless
    None: the job streams, whose consumer group must stay)."""
    pipe = r.pipeline(transaction=False)
    pipe.xadd(stream, entry(obj, audio), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
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


def request(r: redis.Redis, msg: dict[str, Any], timeout_s: float, wait_s: float | None = None,
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
            for _, eid, fields in read(r, {back: last}, max(1, int(min(left, 1.0) * 1000)), 10):
                last = eid
                reply = decode(fields)
                if isinstance(reply, dict) and reply.get("id") == rid:
                    return reply
    finally:
        r.delete(back)


def decode(fields: dict[bytes, bytes]) -> dict[str, Any] | bytes | None:
    """An entry's JSON object, or its audio bytes; None for anything else (not ours, malformed)."""
    kind, body = fields.get(b"k"), fields.get(b"b")
    if body is None:
        return None
    if kind == b"A":
        return body
    if kind != b"J":
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
