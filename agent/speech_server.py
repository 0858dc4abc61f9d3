"""The speech process's audio server: sessions of PCM audio in, interim and final transcripts out.

The app opens one connection and multiplexes its sessions over it: `start` (session id, language,
sample rate), audio frames, `stop`. Each session gets a thread that resamples (soxr) to 16 kHz and
feeds a streaming STT; events go back on the same connection as they happen.
`python -m agent.speech_server --socket PATH` runs it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from agent import wire
from engines.errors import ConfigurationError, EngineError, UnsupportedLanguageError
from engines.languages import LANGUAGES
from engines.stt.base import STT

logger = logging.getLogger(__name__)
STOP = object()


@dataclass
class Session:
    """One speaker's audio session and the thread that recognises it."""

    session_id: str
    language: str
    rate: int
    inbox: queue.Queue[Any] = field(default_factory=queue.Queue)


class Connection:
    """One app connection: reads frames, runs sessions and synthesis requests, writes results."""

    def __init__(self, sock: socket.socket, stt: STT, voices: Voices | None = None) -> None:
        self.sock = sock
        self.stt = stt
        self.voices = voices
        self.sessions: dict[str, Session] = {}
        self._send_lock = threading.Lock()

    def send(self, obj: dict[str, Any]) -> None:
        with self._send_lock:
            try:
                self.sock.sendall(wire.pack_json(obj))
            except OSError:
                logger.warning("app connection lost while sending", exc_info=True)

    def serve(self) -> None:
        try:
            while True:
                frame = wire.read_frame(self.sock)
                if frame is None:
                    break
                kind, body = frame
                if kind == "A":
                    sid = body[:wire.SESSION_ID_LEN].decode("ascii", "replace")
                    session = self.sessions.get(sid)
                    if session is not None:
                        session.inbox.put(body[wire.SESSION_ID_LEN:])
                elif kind == "J":
                    self._control(json.loads(body))
        except (OSError, ValueError):
            logger.warning("app connection failed", exc_info=True)
        finally:
            for session in list(self.sessions.values()):
                session.inbox.put(STOP)
            self.sock.close()

    def _control(self, msg: dict[str, Any]) -> None:
        op, sid = msg.get("op"), str(msg.get("session", ""))
        if op == "start" and sid not in self.sessions and len(sid) == wire.SESSION_ID_LEN:
            session = Session(sid, str(msg["language"]), int(msg["rate"]))
            self.sessions[sid] = session
            threading.Thread(target=self._run, args=(session,), name=f"stt-{sid[:8]}",
                             daemon=True).start()
        elif op == "stop" and sid in self.sessions:
            self.sessions[sid].inbox.put(STOP)
        elif op == "ping":
            self.send({"type": "pong", "status": self.stt.status()})
        elif op == "tts" and self.voices is not None:
            threading.Thread(target=self._tts, args=(msg,), name="tts", daemon=True).start()

    def _tts(self, msg: dict[str, Any]) -> None:
        """Synthesize (or take from the cache) and answer with the WAV, base64 in the JSON."""
        import base64

        rid = msg.get("id")
        assert self.voices is not None
        try:
            out = self.voices.speak(str(msg["text"]), str(msg["language"]), msg.get("voice"),
                                    str(msg.get("engine") or ""))
        except EngineError as exc:
            code = ("unsupported_language" if isinstance(exc, UnsupportedLanguageError)
                    else "unknown_engine" if isinstance(exc, ConfigurationError) else "engine_failed")
            self.send({"type": "tts", "id": rid, "ok": False, "code": code, "message": str(exc)})
            return
        self.send({"type": "tts", "id": rid, "ok": True, "wav": base64.b64encode(out.wav).decode(),
                   "durationMs": round(out.duration_ms, 1), "engine": out.engine, "voice": out.voice,
                   "elapsedMs": round(out.elapsed_ms, 1)})

    def _run(self, session: Session) -> None:
        """Resample, recognise, and report until the session stops; then flush the last final."""
        import numpy as np
        import soxr
        resampler = None
        if session.rate != 16000:
            resampler = soxr.ResampleStream(session.rate, 16000, 1, dtype="int16", quality="HQ")
        try:
            if not self.stt.supports(session.language):
                raise UnsupportedLanguageError(
                    f"speech recognition does not know {LANGUAGES.get(session.language, session.language)}: "
                    "type instead", engine=self.stt.name)
            stream = self.stt.stream(session.language, session.session_id)
            while True:
                item = session.inbox.get()
                if item is STOP:
                    if resampler is not None:
                        tail = resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
                        self._emit(session, stream.push(tail.tobytes()))
                    self._emit(session, stream.flush())
                    break
                pcm = item
                if resampler is not None:
                    pcm = resampler.resample_chunk(np.frombuffer(item, dtype=np.int16)).tobytes()
                self._emit(session, stream.push(pcm))
        except UnsupportedLanguageError as exc:  # our own words, safe to show the speaker
            self.send({"type": "error", "session": session.session_id, "code": "unsupported_language",
                       "message": str(exc)})
        except EngineError as exc:
            logger.warning("speech session failed", exc_info=True, extra={"session": session.session_id})
            self.send({"type": "error", "session": session.session_id, "message": str(exc)})
        finally:
            self.sessions.pop(session.session_id, None)
            self.send({"type": "ended", "session": session.session_id})

    def _emit(self, session: Session, events: list[Any]) -> None:
        for e in events:
            self.send({"type": e.kind, "session": session.session_id, "text": e.text,
                       "language": e.language, "utteranceKey": e.utterance_key,
                       "startMs": e.start_ms, "endMs": e.end_ms, "decodeMs": round(e.decode_ms, 1),
                       "speechEndAt": e.speech_end_at, "sentAt": time.time() * 1000})


class Voices:
    """Speech synthesis in the speech process: registry by name plus the shared cache."""

    def __init__(self) -> None:
        from engines.tts.cache import TTSCache
        from engines.tts.registry import TTSRegistry
        self.registry = TTSRegistry(default=os.environ.get("TTS_ENGINE", "local"))
        self.cache = TTSCache(int(os.environ.get("TTS_CACHE_BYTES", str(64 * 1024 * 1024))))

    def speak(self, text: str, language: str, voice: Any, engine: str) -> Any:
        name = engine or self.registry.default
        self.registry.check(name)
        key = (name, str(voice or ""), language, text)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        out = self.registry.get(name).synthesize(text, language, str(voice) if voice else None)
        self.cache.put(key, out)
        return out


def make_stt() -> STT:
    """The configured engine (STT_ENGINE, "local" by default), with the local one behind it."""
    from engines.stt.registry import STTRegistry
    return STTRegistry(default=os.environ.get("STT_ENGINE", "local")).get()


def serve(path: str, stt: STT, voices: Voices | None = None) -> None:
    """Listen on a Unix socket at `path` (owner-only) and serve connections until killed."""
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        server.bind(path)
    finally:
        os.umask(old)
    server.listen(8)
    logger.info("speech server ready", extra={"socket": path, "stt": stt.status().get("model")})
    while True:
        conn, _ = server.accept()
        threading.Thread(target=Connection(conn, stt, voices).serve, name="speech-conn",
                         daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    args = parser.parse_args()
    from dotenv import load_dotenv

    from core.settings import ROOT
    load_dotenv(ROOT / ".env", override=False)  # when run on its own (Procfile `agent`)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per bridge post otherwise
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if os.environ.get("LT_DIE_WITH_PARENT") == "1":
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    voices = Voices()
    voices.registry.provider(voices.registry.default)  # load piper before the first request
    stt = make_stt()
    if not livekit_configured():
        serve(args.socket, stt, voices)
        return
    # With LiveKit, this process is also the media agent: the Unix socket on a thread, the
    # livekit-agents worker on the main thread's event loop, one Whisper model for both.
    threading.Thread(target=serve, args=(args.socket, stt, voices), name="speech-socket",
                     daemon=True).start()
    from agent import livekit_agent
    livekit_agent.run(stt)


def livekit_configured() -> bool:
    from core.livekit import LiveKitConfig  # the app's own reading of the LIVEKIT_* settings
    return LiveKitConfig.from_env() is not None and os.environ.get("AGENT_DISABLED") != "1"


if __name__ == "__main__":
    main()
