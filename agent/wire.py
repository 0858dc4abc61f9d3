"""The framing between the app and the speech process over a local stream socket.

A frame is one type byte, a 4-byte big-endian length and the payload:
  J  a JSON object (control messages and results)
  A  audio: 32 ASCII bytes of session id, then PCM16 mono at the session's rate
The protocol is local and trusted (a Unix socket only the service's user can open).
"""
from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct(">cI")
MAX_FRAME = 16 << 20  # a long synthesized sentence, base64, fits
SESSION_ID_LEN = 32


def pack_json(obj: dict[str, Any]) -> bytes:
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
