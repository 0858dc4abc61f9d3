"""unit: the web process's reader of the speech process survives a message it cannot handle."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from app.speech_link import AudioSession
from core import speech as wire
from tests.support import wait_until
from tests.unit.inprocess import App

pytestmark = pytest.mark.unit


def _frame(body: bytes) -> bytes:
    return wire.HEADER.pack(b"J", len(body)) + body


def test_the_reader_drops_a_bad_message_and_reads_the_next(app: App) -> None:
    link = app.svc.speech
    ours, theirs = socket.socketpair()
    link.sessions["s" * 32] = AudioSession("s" * 32, "sid-x", "no-such-user", None, "en", None, 16000)
    reader = threading.Thread(target=link._read, args=(ours,), daemon=True)
    reader.start()
    try:
        for bad in (b"{not json", b"[1, 2]", b"\xff\xfe",
                    json.dumps({"type": "final", "session": "s" * 32}).encode(),  # no text
                    json.dumps({"type": "final", "session": "s" * 32, "text": "Hi",
                                "utteranceKey": "k", "speechEndAt": "soon"}).encode()):
            theirs.sendall(_frame(bad))
        theirs.sendall(wire.pack_json({"type": "pong", "status": {"engine": "still reading"}}))
        wait_until(lambda: link._pong.is_set(), 5, "the reader to read on past bad messages")
        assert link._last_status == {"engine": "still reading"} and reader.is_alive()
    finally:
        theirs.close()
        reader.join(timeout=5)
    assert not reader.is_alive()  # the peer closing ends it, as it should
