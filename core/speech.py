"""The link to the speech process: its framing over a local stream socket, the one connect loop,
and a one-request synthesis client (the web's /api/tts and the workers' tts-audio both use it).
The messages themselves are typed in core.wire.

A frame is one type byte, a 4-byte big-endian length and the payload:
  J  a JSON object (control messages and results)
  A  audio: 32 ASCII bytes of session id, then PCM16 mono at the session's rate
The protocol is local and trusted (a Unix socket only the service's user can open).
"""
from __future__ import annotations

import json
import socket
import struct
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

from core import wire

if TYPE_CHECKING:
    from core.settings import Settings

HEADER = struct.Struct(">cI")
MAX_FRAME = 16 << 20  # a long synthesized sentence, base64, fits
SESSION_ID_LEN = 32
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # audio we take (Hz)


def pack_json(obj: Mapping[str, Any]) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return HEADER.pack(b"J", len(body)) + body


def pack_audio(session_id: str, pcm16: bytes) -> bytes:
    sid = session_id.encode("ascii")
    assert len(sid) == SESSION_ID_LEN
    return HEADER.pack(b"A", len(sid) + len(pcm16)) + sid + pcm16


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket) -> tuple[str, bytes] | None:
    """The next frame, or None when the peer closed the connection."""
    head = _recv_exact(sock, HEADER.size)
    if head is None:
        return None
    kind, length = HEADER.unpack(head)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes is over the {MAX_FRAME} limit")
    body = _recv_exact(sock, length)
    if body is None:
        return None
    return kind.decode(), body


def connect(path: str, wait_s: float, io_timeout_s: float | None = None) -> socket.socket:
    """Connect to the speech process at `path`, waiting up to `wait_s` while it starts (it binds
    its socket once its models are loaded: until then, no such file or connection refused); the
    last error if it never does. Any other OSError (a permission, a bad path) is raised at once."""
    deadline = time.monotonic() + wait_s
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(io_timeout_s)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        except OSError:
            s.close()
            raise


def request(path: str, msg: Mapping[str, Any], timeout_s: float = 20.0,
            wait_s: float | None = None) -> dict[str, Any]:
    """Send one request (`op` and its fields) to the speech process at `path` on a connection of
    its own; returns its reply (same `type` as the op, same id). Waits up to `wait_s` (default
    `timeout_s`) for the process to listen; TimeoutError when the reply has not come within
    `timeout_s` of sending, another OSError when it cannot be reached."""
    rid = uuid.uuid4().hex
    with connect(path, timeout_s if wait_s is None else wait_s, io_timeout_s=timeout_s) as s:
        s.sendall(pack_json(dict(msg, id=rid)))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the speech process did not answer in time")
            s.settimeout(left)
            frame = read_frame(s)
            if frame is None:
                raise ConnectionError("the speech process closed the connection")
            if frame[0] == "J":
                reply = json.loads(frame[1])
                if reply.get("type") == msg["op"] and reply.get("id") == rid:
                    return dict(reply)


Target = Union[str, "Settings"]  # a socket's path, or the settings that say how to reach one


def ask(target: Target, msg: Mapping[str, Any], timeout_s: float = 20.0,
        wait_s: float | None = None, room: str | None = None) -> dict[str, Any]:
    """One request to a speech process: over its socket (a path, or settings with the socket
    link), or over Redis (settings with the redis link: any speech process, or with `room` the
    one whose LiveKit agent serves that room). TimeoutError when no reply came in time, another
    OSError when no speech process can be reached (ValueError: its reply was not ours)."""
    if isinstance(target, str):
        return request(target, msg, timeout_s, wait_s)
    if target.speech.link != "redis":
        return request(target.speech.socket, msg, timeout_s, wait_s)
    import redis

    from core import speech_bus
    r = _bus(target)
    try:
        to = None
        if room is not None:
            to = next((p["name"] for p in speech_bus.processes(r)
                       if room in (p.get("rooms") or [])), None)
            if to is None:
                raise ConnectionError("no speech process serves that room")
        return speech_bus.request(r, msg, timeout_s, wait_s, to=to)
    except redis.RedisError as exc:
        raise ConnectionError("the speech link (Redis) is unavailable") from exc


_clients: dict[str, Any] = {}


def _bus(settings: Any) -> Any:
    """One Redis client (a connection pool) per process for the speech bus."""
    if settings.redis_url not in _clients:
        from core import speech_bus
        _clients[settings.redis_url] = speech_bus.client(
            settings.redis_url, settings.speech_link_key, speech_bus.new_name("ask"))
    return _clients[settings.redis_url]


def request_tts(target: Target, text: str, language: str, voice: str | None, engine: str,
                timeout_s: float = 20.0, wait_s: float | None = None) -> dict[str, Any]:
    """Synthesize through a speech process: its reply ({ok, wav (base64), durationMs, engine,
    voice} or {ok: false, code, message})."""
    return ask(target, wire.tts(text, language, voice, engine), timeout_s, wait_s)


def request_say(target: Target, room: str, utterance: str, language: str, source: str, speaker: str,
                text: str, at: float, listeners: list[tuple[str, str, str]], heard: bool = False,
                timeout_s: float = 6.0) -> list[str]:
    """Hand a translation to the LiveKit agent in the speech process, for the room's
    `tts-<language>` track: the listeners it reaches that way (none when the process is not
    there, runs no agent or does not serve the room). `heard`: it was spoken into a LiveKit
    microphone. The agent decides within 3 s or queues nothing, so waiting `timeout_s` (longer)
    never leaves a line both on the track and in a file."""
    msg: wire.SayOp = {"op": "say", "room": room, "utterance": utterance, "language": language,
                       "source": source, "speaker": speaker, "text": text, "at": at,
                       "listeners": [list(x) for x in listeners], "heard": heard}
    try:
        reply = ask(target, msg, timeout_s, wait_s=0, room=room)
    except (OSError, ValueError):
        return []
    covered = reply.get("covered") if reply.get("ok") else None
    return [str(x) for x in covered] if isinstance(covered, list) else []
