"""The Socket.IO audio path: start-speech / speech-data / stop-speech.

The web process never runs a model: it validates each event and hands the audio to the speech
process over a local socket (green I/O under eventlet). Results come back on the same connection:
interims go to the room as `interim-transcript`, finals go through handle_transcript() with an
idempotency key per utterance, exactly like typed text.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, request

from agent import wire
from app import validation as v
from app.extensions import services, socketio
from app.transcripts import TranscriptIn, handle_transcript
from core.naming import own_room

logger = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 64 * 1024  # documented limit for one speech-data chunk (~2 s at 16 kHz)
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
ENCODINGS = ("LINEAR16",)
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


class SpeechLink:
    """The app's connection to the speech process (started here as a child in embedded mode)."""

    def __init__(self, app: Flask, socket_path: str, spawn: bool) -> None:
        self.app = app
        self.path = socket_path
        self.spawn = spawn
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.sessions: dict[str, AudioSession] = {}
        self.by_sid: dict[str, str] = {}
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pong = threading.Event()
        self._replies: dict[str, dict[str, Any]] = {}
        self._waiting: dict[str, threading.Event] = {}
        self._last_status: dict[str, Any] = {}
        self.restarts = 0

    def supervise(self) -> None:
        """Restart the child if it dies while no audio session is connected (the Socket.IO
        path notices on its own; the LiveKit agent inside it needs this)."""
        while True:
            socketio.sleep(1.0)
            if self.proc is not None and self.proc.poll() is not None:
                self.start()

    def start(self) -> None:
        with self._start_lock:
            self._start()

    def _start(self) -> None:
        if self.spawn and (self.proc is None or self.proc.poll() is not None):
            if self.proc is not None:
                self.restarts += 1
                logger.warning("restarting the speech process", extra={"restarts": self.restarts})
            env = dict(os.environ, LT_DIE_WITH_PARENT="1")
            # With LiveKit it is also the media agent, posting to this process's bridge.
            env.setdefault("APP_URL", f"http://127.0.0.1:{self.app.extensions['live_translator'].settings.port}")
            self.proc = subprocess.Popen([sys.executable, "-m", "agent.speech_server", "--socket",
                                          self.path], env=env, stdin=subprocess.DEVNULL)

    def _connect(self) -> socket.socket:
        with self._lock:
            if self.sock is not None:
                return self.sock
            if self.spawn and (self.proc is None or self.proc.poll() is not None):
                self.start()
            deadline = time.monotonic() + 60
            while True:
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.path)
                    break
                except OSError:
                    s.close()
                    if time.monotonic() > deadline:
                        raise v.BadInput("speech_unavailable",
                                         "speech recognition is not available right now", 503) from None
                    time.sleep(0.2)
            self.sock = s
            socketio.start_background_task(self._read, s)
            return s

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
        import json
        try:
            while True:
                frame = wire.read_frame(s)
                if frame is None:
                    break
                if frame[0] == "J":
                    self._result(json.loads(frame[1]))
        except (OSError, ValueError):
            logger.warning("speech connection failed", exc_info=True)
        self._drop(s)

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
            self.send(wire.pack_json({"op": "ping"}))
            ok = self._pong.wait(2.0)
        except v.BadInput:
            ok = False
        return dict(out, running=ok, stt=self._last_status if ok else None)

    def _result(self, msg: dict[str, Any]) -> None:
        session = self.sessions.get(str(msg.get("session")))
        kind = msg.get("type")
        if kind == "pong":
            self._last_status = msg.get("status") or {}
            self._pong.set()
            return
        if kind == "tts":
            rid = str(msg.get("id"))
            waiter = self._waiting.get(rid)
            if waiter is not None:
                self._replies[rid] = msg
                waiter.set()
            return
        if kind == "ended":
            self.end(str(msg.get("session")))
        if session is None:
            return
        if kind == "interim":
            to = f"room:{session.room_id}" if session.room_id else own_room(session.user_id)
            socketio.emit("interim-transcript", {
                "speakerId": session.user_id, "text": msg["text"], "sourceLang": session.language,
                "utteranceKey": msg["utteranceKey"]}, to=to)
        elif kind == "final":
            with self.app.app_context():
                try:
                    handle_transcript(TranscriptIn(
                        speaker_id=session.user_id, text=str(msg["text"])[:5000],
                        source_lang=session.language, room_id=session.room_id,
                        solo_target_lang=session.solo_target, engine="local-stt",
                        idempotency_key=f"speech:{msg['utteranceKey']}",
                        speech_end_at=msg.get("speechEndAt")))
                except v.BadInput as exc:
                    socketio.emit("speech-error", exc.message, to=session.sid)
        elif kind == "error":
            # An engine's own message may say anything; only a refused language is passed on.
            known = msg.get("code") == "unsupported_language"
            socketio.emit("speech-error", str(msg.get("message"))[:300] if known
                          else "speech recognition failed for this session", to=session.sid)

    def synthesize(self, text: str, language: str, voice: str | None, engine: str,
                   timeout_s: float = 20.0) -> dict[str, Any]:
        """Ask the speech process for audio; returns its reply ({ok, wav (base64), ...})."""
        rid = uuid.uuid4().hex
        done = threading.Event()
        self._waiting[rid] = done
        try:
            self.send(wire.pack_json({"op": "tts", "id": rid, "text": text, "language": language,
                                      "voice": voice, "engine": engine}))
            if not done.wait(timeout_s):
                raise v.BadInput("tts_timeout", "speech synthesis took too long", 504)
            return self._replies.pop(rid)
        finally:
            self._waiting.pop(rid, None)
            self._replies.pop(rid, None)

    def begin(self, session: AudioSession) -> None:
        self.sessions[session.session_id] = session
        self.by_sid[session.sid] = session.session_id
        try:
            self.send(wire.pack_json({"op": "start", "session": session.session_id,
                                      "language": session.language, "rate": session.rate}))
        except v.BadInput:
            self.end(session.session_id)
            raise

    def end(self, session_id: str) -> None:
        session = self.sessions.pop(session_id, None)
        if session is not None and self.by_sid.get(session.sid) == session_id:
            del self.by_sid[session.sid]

    def stop(self, session_id: str) -> None:
        """Ask for the last final; the session ends when the speech process says so."""
        self.send(wire.pack_json({"op": "stop", "session": session_id}))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


def link() -> SpeechLink:
    lk: SpeechLink = services().speech
    return lk


def register(app: Flask, var_dir: Path, autostart: bool) -> SpeechLink:
    """Embedded: the speech process is our child, started now (models load before the first
    speaker) unless SPEECH_AUTOSTART=0, else on first use. With SPEECH_SOCKET set, it is run
    separately (Procfile `agent`) and we only connect."""
    path = os.environ.get("SPEECH_SOCKET") or str(var_dir / "speech.sock")
    lk = SpeechLink(app, path, spawn=not os.environ.get("SPEECH_SOCKET"))
    if lk.spawn and autostart and os.environ.get("SPEECH_AUTOSTART", "1") == "1":
        lk.start()
    if lk.spawn:
        socketio.start_background_task(lk.supervise)
    return lk


def client_gone(sid: str) -> None:
    """Disconnect: stop this socket's audio session, if any (its last final is still delivered)."""
    lk: SpeechLink | None = getattr(services(), "speech", None)
    if lk is None:
        return
    session_id = lk.by_sid.get(sid)
    if session_id:
        try:
            lk.stop(session_id)
        except v.BadInput:
            lk.end(session_id)


def _handlers() -> None:
    """Register the seed's speech events (kept here, beside the link they drive)."""
    from app.sockets import Client, handler

    @handler("start-speech", error_event="speech-error")
    def on_start_speech(client: Client, payload: Any = None) -> dict[str, Any]:
        data = v.as_object(payload, "start-speech")
        v.only_keys(data, {"languageCode", "soloMode", "soloTargetLang", "encoding",
                           "sampleRateHertz"}, "start-speech")
        language = v.language(data, "languageCode")
        solo = v.boolean(data, "soloMode")
        solo_target = v.language(data, "soloTargetLang", required=False)
        encoding = data.get("encoding", "LINEAR16")
        if encoding not in ENCODINGS:
            raise v.BadInput("unsupported_encoding",
                             f"encoding must be one of {', '.join(ENCODINGS)} (16-bit PCM, mono)")
        rate = data.get("sampleRateHertz", 16000)
        if isinstance(rate, bool) or rate not in SAMPLE_RATES:
            raise v.BadInput("unsupported_sample_rate",
                             f"sampleRateHertz must be one of {', '.join(map(str, SAMPLE_RATES))}")
        if solo and not solo_target:
            raise v.BadInput("missing_field", "soloTargetLang is required in solo mode")
        if not solo and client.room_id is None:
            raise v.BadInput("not_in_room", "join a room (or use solo mode) before speaking", 403)
        sid = request.sid  # type: ignore[attr-defined]
        lk = link()
        if sid in lk.by_sid:
            raise v.BadInput("already_speaking", "a speech session is already running; stop it first")
        session = AudioSession(uuid.uuid4().hex, sid, client.user_id,
                               None if solo else client.room_id, str(language),
                               solo_target if solo else None, int(rate))
        lk.begin(session)
        return {"sessionId": session.session_id, "maxChunkBytes": MAX_CHUNK_BYTES}

    @handler("speech-data", error_event="speech-error")
    def on_speech_data(client: Client, payload: Any = None) -> dict[str, Any] | None:
        lk = link()
        session_id = lk.by_sid.get(request.sid)  # type: ignore[attr-defined]
        if session_id is None:
            raise v.BadInput("no_session", "send start-speech before speech-data")
        if not isinstance(payload, (bytes, bytearray)):
            raise v.BadInput("bad_type", "speech-data must be binary PCM16 audio")
        if len(payload) > MAX_CHUNK_BYTES:
            raise v.BadInput("too_large", f"a speech-data chunk may be at most {MAX_CHUNK_BYTES} bytes", 413)
        if len(payload) % 2:
            raise v.BadInput("bad_audio", "PCM16 audio has an even number of bytes")
        lk.send(wire.pack_audio(session_id, bytes(payload)))
        return None

    @handler("stop-speech", error_event="speech-error")
    def on_stop_speech(client: Client, *_: Any) -> dict[str, Any]:
        lk = link()
        session_id = lk.by_sid.get(request.sid)  # type: ignore[attr-defined]
        if session_id is None:
            raise v.BadInput("no_session", "no speech session is running")
        lk.by_sid.pop(request.sid, None)  # type: ignore[attr-defined]
        lk.stop(session_id)
        return {"sessionId": session_id}


_handlers()
