"""Socket.IO peers: signed-in users with real clients that record every event they receive."""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
import socketio

# Answers that mean "not yet": the page (web/src/net.js) sends the message again.
RETRYABLE = frozenset({"queue_unavailable", "internal", "busy", "rate_limited"})


class Peer:
    """A signed-in user with a real Socket.IO client that records every event it receives."""

    EVENTS = ("joined-room", "user-joined", "user-left", "recognized-speech", "translated-message",
              "interim-transcript", "interim-translation", "tts-audio", "voice-session-ready",
              "voice-session-ended",
              "user-started-voice", "user-stopped-voice", "voice-presence",
              "solo-translated", "speech-error", "app-error", "translation-failed", "speech-notice",
              "glossary-updated", "resync")

    def __init__(self, base_url: str, name: str, language: str,
                 session: dict[str, Any] | None = None) -> None:
        self.base_url = base_url
        if session is None:
            r = requests.post(base_url + "/api/session",
                              json={"displayName": name, "language": language}, timeout=10)
            assert r.status_code == 201, r.text
            session = r.json()
        body = session
        self.token: str = body["token"]
        self.user: dict[str, Any] = body["user"]
        self.events: list[tuple[str, Any, float]] = []
        self.filled: dict[str, dict[str, Any]] = {}  # what history gave, by utterance id
        self.room_id: str | None = None
        self._cond = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        for ev in self.EVENTS:
            self.sio.on(ev, self._recorder(ev))

    def _recorder(self, ev: str) -> Callable[[Any], None]:
        def record(data: Any = None) -> None:
            with self._cond:
                self.events.append((ev, data, time.time() * 1000))
                self._cond.notify_all()
            if ev == "resync":  # as the page does: read what was missed (not on this thread)
                threading.Thread(target=self.fill_in, daemon=True).start()
        return record

    def fill_in(self, since: float = 0.0) -> list[dict[str, Any]]:
        """What the page does after a reconnect or a `resync`: read the room's history and keep
        each message by id (a later read replaces an earlier one)."""
        got: list[dict[str, Any]] = []
        for _ in range(50):
            r = requests.get(f"{self.base_url}/api/rooms/{self.room_id}/messages",
                             params={"since": since}, headers=self.headers(), timeout=10)
            assert r.status_code == 200, r.text
            body = r.json()
            got += body["messages"]
            with self._cond:
                for m in body["messages"]:
                    self.filled[m["utteranceId"]] = m
                self._cond.notify_all()
            if not body["more"] or not body["messages"]:
                break
            since = body["messages"][-1]["receivedAt"]
        return got

    def captions(self) -> dict[str, str | None]:
        """Utterance id → the translated text this user has, live or from history (the page
        shows one caption per id)."""
        with self._cond:
            out: dict[str, str | None] = {k: m.get("translatedText") for k, m in self.filled.items()}
            for e, d, _ in self.events:
                if e == "translated-message" and (out.get(d["utteranceId"]) is None):
                    out[d["utteranceId"]] = d["translatedText"]
            return out

    def live_duplicates(self) -> dict[str, int]:
        """Utterance ids that arrived live more than once."""
        with self._cond:
            ids = Counter(d["utteranceId"] for e, d, _ in self.events if e == "translated-message")
        return {k: n for k, n in ids.items() if n > 1}

    @property
    def id(self) -> str:
        return str(self.user["id"])

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def connect(self) -> Peer:
        self.sio.connect(self.base_url, auth={"token": self.token}, transports=["websocket"],
                         wait_timeout=10)
        return self

    def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        return self.sio.call(event, data, timeout=timeout)

    def create_room(self) -> str:
        r = requests.post(self.base_url + "/api/rooms", headers=self.headers(), timeout=10)
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    def join(self, code: str) -> dict[str, Any]:
        ack = self.call("join-room", code)
        assert ack["ok"], ack
        joined = self.wait_for("joined-room")[-1]
        self.room_id = joined["roomId"]
        return dict(ack)

    def say(self, text: str, lang: str, **extra: Any) -> dict[str, Any]:
        ack = self.call("speech-transcript", {"transcript": text, "sourceLang": lang, **extra})
        return dict(ack)

    def say_until_taken(self, text: str, client_id: str, lang: str = "en",
                        give_up_s: float = 120) -> dict[str, Any] | None:
        """What the page does with a message: the same payload (same clientId) again, half a
        second apart, while the answer is "not yet" (RETRYABLE) or none comes (disconnected, no
        answer). The ack once taken; the refusal if it is a "no"; None if it never was."""
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            try:
                ack = dict(self.call("speech-transcript", {"transcript": text, "sourceLang": lang,
                                                           "clientId": client_id}, timeout=10))
                if ack.get("ok") or ack["error"]["code"] not in RETRYABLE:
                    return ack
            except socketio.exceptions.SocketIOError:  # no answer, or not connected
                pass
            time.sleep(0.5)
        return None

    def got(self, event: str) -> list[Any]:
        with self._cond:
            return [d for e, d, _ in self.events if e == event]

    def wait_for(self, event: str, pred: Callable[[Any], bool] = lambda d: True,
                 timeout: float = 20, count: int = 1) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [d for e, d, _ in self.events if e == event and pred(d)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.user['displayName']}: wanted {count} {event}, got "
                                         f"{len(hits)}; events: {[e for e, _, _ in self.events]}")
                self._cond.wait(left)

    def again(self) -> Peer:
        """The same user on a new connection (a browser reconnecting), not yet connected."""
        return Peer(self.base_url, "", "", session={"token": self.token, "user": self.user})

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


def room_with(base_url: str, peers: list[Peer], *people: tuple[str, str]) -> list[Peer]:
    """Sign in and connect one Peer per (name, language), all joined to a new room."""
    made = [Peer(base_url, name, lang).connect() for name, lang in people]
    peers += made
    code = made[0].create_room()
    for p in made:
        p.join(code)
    return made
