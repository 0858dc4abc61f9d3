"""A one-request client of the speech process, for callers without a SpeechLink (workers)."""
from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

from agent import wire


def _connect(path: str, timeout_s: float) -> socket.socket:
    """Connect, waiting while the speech process starts (it binds once its models are loaded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout_s)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def request_tts(path: str, text: str, language: str, voice: str | None, engine: str,
                timeout_s: float = 20.0) -> dict[str, Any]:
    """Synthesize through the speech process at `path`; returns its reply ({ok, wav, ...})."""
    rid = uuid.uuid4().hex
    with _connect(path, timeout_s) as s:
        s.sendall(wire.pack_json({"op": "tts", "id": rid, "text": text, "language": language,
                                  "voice": voice, "engine": engine}))
        while True:
            frame = wire.read_frame(s)
            if frame is None:
                raise ConnectionError("the speech process closed the connection")
            if frame[0] == "J":
                msg = json.loads(frame[1])
                if msg.get("type") == "tts" and msg.get("id") == rid:
                    return dict(msg)
