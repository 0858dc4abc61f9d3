"""The web process's link to the speech process (its child in the embedded default).

The web process never runs a model: audio sessions of the Socket.IO audio path (app.events.audio)
are multiplexed over one local socket (green I/O under eventlet). Results come back on the same
connection: interims go to the room as `interim-transcript`, finals go through handle_transcript()
with an idempotency key per utterance, exactly like typed text. Speech synthesis (/api/tts) takes a
connection of its own per request (core.speech.request).
"""
from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from app import validation as v
from app.extensions import socketio
from app.transcripts import (
    TranscriptIn,
    handle_transcript,
    publish_interim,
    publish_notice,
    segment_key,
)
from core import speech, wire
from core.settings import Settings
from engines.children import child_env

logger = logging.getLogger(__name__)

RESTARTED = "the speech service restarted; start speaking again"


@dataclass
class AudioSession:
    session_id: str
    sid: str
    user_id: str
    room_id: str | None
    language: str
    solo_target: str | None
    rate: int
    engine: str = ""  # the speaker's recognition preference ("": the default)
    keyterms: tuple[str, ...] = ()  # the room's glossary
    # Held from counting a chunk against the speaker's quota to sending it: each speech-data
    # event runs on a green thread of its own, and a quota check that yields (Redis) must not let
    # a later chunk overtake (the lock is FIFO).
    order: threading.Lock = field(default_factory=threading.Lock, repr=False)
    owner: str = ""  # the Redis link: the speech process that took it
    began: float = 0.0  # time.monotonic() when it was asked for


class SpeechLink:
    """The app's connection to the speech process (started here as a child in embedded mode)."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.path = settings.speech.socket
        self.spawn = bool(settings.speech.managed)
        self.port = settings.web.port
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.sessions: dict[str, AudioSession] = {}
        self.by_sid: dict[str, str] = {}
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pong = threading.Event()
        self._last_status: dict[str, Any] = {}
        self.restarts = 0

    def supervise(self) -> None:
        """Restart the child if it dies while no audio session is connected (the Socket.IO
        path notices on its own; the LiveKit agent inside it needs this)."""
        while True:
            socketio.sleep(1.0)
            try:
                if self.proc is not None and self.proc.poll() is not None:
                    self.start()
            except Exception:  # it could not be started (resources): try again in a second
                logger.exception("could not restart the speech process")

    def start(self) -> None:
        """Start the speech process if it is ours and not running."""
        with self._start_lock:
            self._start()

    def _start(self) -> None:
        if self.spawn and (self.proc is None or self.proc.poll() is not None):
            if self.proc is not None:
                self.restarts += 1
                logger.warning("restarting the speech process", extra={"restarts": self.restarts})
            env = child_env()  # it ends with this process (engines.children)
            # With LiveKit it is also the media agent, posting to this process's bridge.
            env.setdefault("APP_URL", f"http://127.0.0.1:{self.port}")
            self.proc = subprocess.Popen(self._argv(), env=env, stdin=subprocess.DEVNULL)

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "agent.speech_server", "--socket", self.path]

    def _connect(self) -> socket.socket:
        with self._lock:
            if self.sock is not None:
                return self.sock
            self.start()  # (re)starts our child unless it is running; nothing when not ours
            try:
                s = speech.connect(self.path, wait_s=60)
            except OSError:
                raise v.BadInput("speech_unavailable",
                                 "speech recognition is not available right now", 503) from None
            self.sock = s
            socketio.start_background_task(self._read, s)
            return s

    def audio(self, session_id: str, pcm: bytes) -> None:
        """One chunk of a session's audio (speech_unavailable when the link is down)."""
        self.send(speech.pack_audio(session_id, pcm))

    def send(self, frame: bytes) -> None:
        s = self._connect()
        try:
            # One writer at a time: each Socket.IO event runs on its own green thread, and when
            # the socket buffer is full (a client sending faster than real time) a second sendall
            # would interleave frames (eventlet refuses it). The lock is FIFO, so chunks keep
            # their order.
            with self._send_lock:
                s.sendall(frame)
        except OSError:
            self._drop(s)
            raise v.BadInput("speech_unavailable", RESTARTED, 503) from None

    def _drop(self, s: socket.socket) -> None:
        with self._lock:
            if self.sock is s:
                self.sock = None
        s.close()
        for session in list(self.sessions.values()):
            self.end(session.session_id)
            socketio.emit("speech-error", RESTARTED, to=session.sid)
        if self.spawn and self.proc is not None:
            try:
                self.proc.wait(timeout=2)  # it is exiting (or gone): reap it, then start anew
            except subprocess.TimeoutExpired:
                return  # alive but the connection broke: the next send reconnects
            self.start()  # load the model now rather than on the next speaker

    def _read(self, s: socket.socket) -> None:
        try:
            while True:
                frame = speech.read_frame(s)  # raises only when the connection itself is broken
                if frame is None:
                    break
                if frame[0] == "J":
                    self._one(frame[1])
        except (OSError, ValueError):
            logger.warning("speech connection failed", exc_info=True)
        self._drop(s)

    def _one(self, body: Any) -> None:
        """Handle one message. Whatever goes wrong with it (not JSON, a database or queue error
        while storing a final) is logged and that message dropped: the reader goes on, or no
        speech result, synthesis reply or health answer would be read for anyone again."""
        try:
            msg = json.loads(body)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError:
            logger.warning("a message from the speech process was not a JSON object; dropped")
            return
        self._handle(msg)

    def _handle(self, msg: dict[str, Any]) -> None:
        try:
            self._result(msg)
        except Exception:
            logger.exception("a speech result could not be delivered",
                             extra={"type": str(msg.get("type"))[:16]})

    def status(self) -> dict[str, Any]:
        """For /health: is the speech process there, and what does its engine say."""
        out: dict[str, Any] = {"managed": self.spawn, "sessions": len(self.sessions),
                               "restarts": self.restarts}
        if self.spawn:
            out["pid"] = self.proc.pid if self.proc and self.proc.poll() is None else None
        if self.sock is None:
            # Not connected yet (connecting would wait for the model to load): say what we know.
            return dict(out, running=bool(out.get("pid")), connected=False)
        out["connected"] = True
        try:
            self._pong.clear()
            ping: wire.PingOp = {"op": "ping"}
            self.send(speech.pack_json(ping))
            ok = self._pong.wait(2.0)
        except v.BadInput:
            ok = False
        return dict(out, running=ok, stt=self._last_status if ok else None)

    def _session(self, session_id: str) -> AudioSession | None:
        """The session a result is for."""
        return self.sessions.get(session_id)

    def _result(self, msg: dict[str, Any]) -> None:
        session = self._session(str(msg.get("session")))
        kind = msg.get("type")
        if kind == "pong":
            self._last_status = msg.get("status") or {}
            self._pong.set()
            return
        if kind == "started" and session is not None:
            session.owner = str(msg.get("owner") or "")
            return
        if kind == "ended":
            self.end(str(msg.get("session")))
        if session is None:
            return
        if kind == "interim":
            with self.app.app_context():
                try:
                    publish_interim(session.user_id, session.room_id, str(msg["text"])[:5000],
                                    session.language, str(msg["utteranceKey"]), _part(msg),
                                    session.solo_target)
                except v.BadInput:
                    pass  # they left the room: no more interims (their final may still count)
        elif kind == "final":
            self._final(session, msg)
        elif kind == "notice":
            with self.app.app_context():
                try:
                    publish_notice(session.user_id, session.room_id, str(msg.get("text")),
                                   str(msg.get("engine") or "")[:32], str(msg.get("previous") or "")[:32])
                except v.BadInput:
                    pass
        elif kind == "error":
            # An engine's own message may say anything; only a refused language is passed on.
            known = msg.get("code") in ("unsupported_language", "overloaded")
            socketio.emit("speech-error", str(msg.get("message"))[:300] if known
                          else "speech recognition failed for this session", to=session.sid)

    def _final(self, session: AudioSession, msg: dict[str, Any]) -> None:
        """A final: stored and fanned out (once: its key is the utterance's and the part's)."""
        end = msg.get("speechEndAt")
        with self.app.app_context():
            try:
                handle_transcript(TranscriptIn(
                    speaker_id=session.user_id, text=str(msg["text"])[:5000],
                    source_lang=session.language, room_id=session.room_id,
                    solo_target_lang=session.solo_target, engine="local-stt",
                    idempotency_key=segment_key(f"speech:{msg['utteranceKey']}", _part(msg)),
                    utterance_key=str(msg["utteranceKey"])[:100], part=_part(msg),
                    speech_end_at=float(end) if isinstance(end, (int, float)) else None,
                    sender_retries=False))
            except v.BadInput as exc:
                if session.sid:
                    socketio.emit("speech-error", exc.message, to=session.sid)

    def synthesize(self, text: str, language: str, voice: str | None, engine: str,
                   timeout_s: float = 20.0) -> dict[str, Any]:
        """Ask the speech process for audio; returns its reply ({ok, wav (base64), ...})."""
        return self._ask(wire.tts(text, language, voice, engine), timeout_s, "speech synthesis",
                         "tts_timeout")

    def voices(self, engine: str, language: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The voices an engine offers ({ok, voices: [{id, name}]} or {ok: false, code, message})."""
        msg: wire.VoicesOp = {"op": "voices", "engine": engine, "language": language}
        return self._ask(msg, timeout_s, "the voice list", "voices_timeout")

    def _ask(self, msg: Mapping[str, Any], timeout_s: float, what: str,
             timeout_code: str) -> dict[str, Any]:
        """One request (on a connection of its own; starting our child if needed); its reply."""
        self.start()
        try:
            return speech.ask(self.settings, msg, timeout_s, wait_s=60)
        except TimeoutError:
            raise v.BadInput(timeout_code, f"{what} took too long", 504) from None
        except (OSError, ValueError):
            raise v.BadInput("speech_unavailable",
                             "speech synthesis is not available right now", 503) from None

    def begin(self, session: AudioSession) -> None:
        self.sessions[session.session_id] = session
        self.by_sid[session.sid] = session.session_id
        try:
            self.send(speech.pack_json(start_op(session)))
        except v.BadInput:
            self.end(session.session_id)
            raise

    def set_keyterms(self, room_id: str, terms: list[str]) -> None:
        """The room's glossary changed: its speakers' sessions use it from their next utterance."""
        for session in [s for s in self.sessions.values() if s.room_id == room_id]:
            session.keyterms = tuple(terms)
            try:
                keyterms: wire.KeytermsOp = {"op": "keyterms", "keyterms": terms}
                self.tell(session.session_id, keyterms)
            except v.BadInput:
                return  # the speech process is away: its sessions end and start anew with them

    def end(self, session_id: str) -> None:
        session = self.sessions.pop(session_id, None)
        if session is not None and self.by_sid.get(session.sid) == session_id:
            del self.by_sid[session.sid]

    def stop(self, session_id: str) -> None:
        """Ask for the last final; the session ends when the speech process says so."""
        self.tell(session_id, wire.stop())

    def tell(self, session_id: str, msg: Mapping[str, Any]) -> None:
        """A control message for one session, after the audio sent before it."""
        self.send(speech.pack_json(dict(msg, session=session_id)))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


def start_link(app: Flask, settings: Settings, autostart: bool) -> SpeechLink:
    """Embedded: the speech process is our child, started now (models load before the first
    speaker) unless SPEECH_AUTOSTART=0, else on first use. With SPEECH_SOCKET set (or
    SPEECH_MANAGED=0), it is run separately (Procfile `agent`) and we only connect. (Distributed,
    the link is Redis: app.speech_bus.start_link.)"""
    lk = SpeechLink(app, settings)
    if lk.spawn:
        socketio.start_background_task(lk.supervise)
    if lk.spawn and autostart and settings.speech.autostart:
        lk.start()
    return lk


def start_op(session: AudioSession) -> wire.StartOp:
    """A session's `start`, whichever the link."""
    return wire.start(session.session_id, session.language, session.rate, session.engine,
                      list(session.keyterms), session.user_id, session.room_id, session.solo_target)


def _part(msg: dict[str, Any]) -> int:
    """A result's segment number (0 when absent or not a small whole number)."""
    part = msg.get("part", 0)
    return part if isinstance(part, int) and not isinstance(part, bool) and 0 <= part < 100_000 else 0
