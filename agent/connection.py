"""What a speech process does for one peer of its link, whichever the link: audio sessions
(`start`, audio, `stop`, `keyterms`) run by SpeakerStreams, and requests (`tts`, `voices`, `say`,
`translate`, `ping`), each answered with `send`. The socket link (agent.speech_server) sends on
its connection, the Redis link (agent.bus_server) to the requester's reply stream. And the
synthesis and metering every session and request share.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

from agent.speaker import SpeakerStream
from core import speech, usage, wire
from core.providers import OFF_LOOP, translator_registry, tts_registry
from core.settings import Settings
from engines.errors import ConfigurationError, EngineError, UnsupportedLanguageError
from engines.stt.base import SpeechEvent, StreamOptions, UsageMeter
from engines.stt.registry import STTRegistry
from engines.translation.base import Context

logger = logging.getLogger(__name__)
SAY_DECIDE_S = 3.0  # the agent's own limit (agent.livekit_agent.SAY_TIMEOUT_S)
SAY_MARGIN_S = 1.5


class Connection:
    """One app connection: reads frames, runs sessions and synthesis requests, writes results."""

    def __init__(self, sock: socket.socket | None, stt: STTRegistry, voices: Voices | None = None,
                 meter: Meter | None = None, media: Any = None) -> None:
        self.sock = sock
        self.stt = stt
        self.voices = voices
        self.meter = meter
        self.media = media  # the LiveKit agent's state (`say`), when this process runs it
        self.sessions: dict[str, SpeakerStream] = {}
        self._send_lock = threading.Lock()

    def send(self, obj: Mapping[str, Any]) -> None:
        """One message to the peer (core.wire: a result or a reply)."""
        assert self.sock is not None
        with self._send_lock:
            try:
                self.sock.sendall(speech.pack_json(obj))
            except OSError:
                logger.warning("app connection lost while sending", exc_info=True)

    def serve(self) -> None:
        assert self.sock is not None
        try:
            while True:
                frame = speech.read_frame(self.sock)
                if frame is None:
                    break
                kind, body = frame
                if kind == "A":
                    sid = body[:speech.SESSION_ID_LEN].decode("ascii", "replace")
                    session = self.sessions.get(sid)
                    if session is not None:
                        session.feed(body[speech.SESSION_ID_LEN:])
                elif kind == "J":
                    self._one(body)
        except (OSError, ValueError):
            logger.warning("app connection failed", exc_info=True)
        finally:
            for session in list(self.sessions.values()):
                session.close()
            self.sock.close()

    def _one(self, body: bytes) -> None:
        """One control message; one that is malformed or fails is logged and dropped, and the
        connection (every session on it) goes on."""
        try:
            msg = json.loads(body)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
            self._control(msg)
        except Exception as exc:  # its type only: a message may carry someone's words
            logger.warning("a control message failed; dropped", extra={"error": type(exc).__name__})

    def _control(self, msg: dict[str, Any]) -> None:
        op, sid = msg.get("op"), str(msg.get("session", ""))
        if op == "start" and sid not in self.sessions and len(sid) == speech.SESSION_ID_LEN:
            engine = str(msg.get("engine") or "") or None
            terms = msg.get("keyterms")
            keyterms = tuple(str(t) for t in terms)[:100] if isinstance(terms, list) else ()
            meter = self.meter.bound(msg.get("room"), msg.get("user")) if self.meter else None
            self.sessions[sid] = session = SpeakerStream(
                self.stt.get(engine if engine in self.stt.names() else None), str(msg["language"]),
                rate=int(msg["rate"]), key_prefix=lambda: sid,
                deliver=lambda events: self._results(sid, events),
                on_error=lambda exc: self._failed(sid, exc), on_end=lambda: self._ended(sid),
                name=f"stt-{sid[:8]}", options=StreamOptions(keyterms=keyterms, on_usage=meter),
                on_overflow=lambda: self.send(_error(sid, OVERLOADED, "overloaded")))
            session.start()
        elif op == "stop" and sid in self.sessions:
            self.sessions[sid].close()
        elif op == "keyterms" and sid in self.sessions and isinstance(msg.get("keyterms"), list):
            self.sessions[sid].set_keyterms(tuple(str(t) for t in msg["keyterms"])[:100])
        elif op == "ping":
            pong: wire.Pong = {"type": "pong", "status": dict(
                self.stt.provider(self.stt.default).status(), engines=self.stt.status())}
            self.send(pong)
        elif op == "tts" and self.voices is not None:
            threading.Thread(target=self._tts, args=(msg,), name="tts", daemon=True).start()
        elif op == "voices" and self.voices is not None:
            threading.Thread(target=self._voices, args=(msg,), name="voices", daemon=True).start()
        elif op == "say":
            threading.Thread(target=self._say, args=(msg,), name="say", daemon=True).start()
        elif op == "translate":
            threading.Thread(target=self._translate, args=(msg,), name="translate", daemon=True).start()

    def _translate(self, msg: dict[str, Any]) -> None:
        """A translation by a provider the asker cannot call itself (gRPC in the embedded web
        process: core.offloop): all of `targets`, or why not."""
        reply: wire.TranslateReply = {"type": "translate", "id": msg.get("id"), "ok": False}
        if self.voices is None:
            self.send({**reply, "code": "unavailable", "message": "no translation here",
                       "retryable": True})
            return
        try:
            engine = str(msg.get("engine") or "")
            if engine not in OFF_LOOP:
                raise ConfigurationError(f"{engine!r} is not translated here")
            glossary = msg.get("glossary")
            glossary = glossary if isinstance(glossary, list) else []
            out = self.voices.translator(engine).translate_many(
                str(msg["text"]), str(msg["source"]), [str(t) for t in msg["targets"]],
                Context(glossary=tuple(str(t) for t in glossary)))
        except (KeyError, TypeError):
            self.send({**reply, "code": "bad_request", "retryable": False,
                       "message": "a translate request needs text, source and targets"})
            return
        except EngineError as exc:
            self.send({**reply, "code": type(exc).__name__, "message": str(exc),
                       "retryable": exc.retryable})
            return
        except Exception:  # noqa: BLE001 - the asker is told, and waits no longer
            logger.exception("translation for another process failed")
            self.send({**reply, "code": "failed", "message": "the translation failed",
                       "retryable": True})
            return
        self.send({**reply, "ok": True, "translations": {
            t: {"text": r.text, "elapsedMs": r.elapsed_ms, "usage": r.usage} for t, r in out.items()}})

    def _say(self, msg: dict[str, Any]) -> None:
        """A translation for a voice room's `tts-<lang>` track; answers with the listeners that
        track reaches (the workers send the others `tts-audio`)."""
        reply: wire.SayReply = {"type": "say", "id": msg.get("id"), "ok": False}
        if self.media is None:
            self.send({**reply, "code": "no_voice_rooms"})
            return
        kw: dict[str, float] = {}
        deadline = msg.get("deadline")
        if isinstance(deadline, (int, float)):
            # Over Redis the job may have waited: decide while the asker still waits (with room
            # for the reply), or it sends files for a line that is also on the track.
            kw["timeout_s"] = min(SAY_DECIDE_S, deadline - time.time() - SAY_MARGIN_S)
            if kw["timeout_s"] <= 0:
                self.send({**reply, "code": "too_late"})
                return
        try:
            covered = self.media.say(msg, **kw)
        except ValueError:
            self.send({**reply, "code": "bad_request"})
            return
        except Exception:  # noqa: BLE001 - the room's job is gone or slow: tts-audio instead
            logger.warning("could not queue a line on a voice room's track", exc_info=True)
            self.send({**reply, "code": "agent_failed"})
            return
        self.send({**reply, "ok": True, "covered": covered})

    def _voices(self, msg: dict[str, Any]) -> None:
        """The voices an engine offers for a language: [{id, name}]."""
        assert self.voices is not None
        try:
            voices = self.voices.list(str(msg.get("engine") or ""), str(msg.get("language") or ""))
        except EngineError as exc:
            code = "unknown_engine" if isinstance(exc, ConfigurationError) else "engine_failed"
            failed: wire.VoicesReply = {
                "type": "voices", "id": msg.get("id"), "ok": False, "code": code,
                "message": str(exc) if code == "unknown_engine" else "the voice list is unavailable"}
            self.send(failed)
            return
        listed: wire.VoicesReply = {"type": "voices", "id": msg.get("id"), "ok": True, "voices": voices}
        self.send(listed)

    def _tts(self, msg: dict[str, Any]) -> None:
        """Synthesize (or take from the cache) and answer with the WAV, base64 in the JSON."""
        import base64

        rid = msg.get("id")
        assert self.voices is not None
        try:
            out, cached = self.voices.speak(str(msg["text"]), str(msg["language"]), msg.get("voice"),
                                            str(msg.get("engine") or ""))
        except EngineError as exc:
            code = ("unsupported_language" if isinstance(exc, UnsupportedLanguageError)
                    else "unknown_engine" if isinstance(exc, ConfigurationError) else "engine_failed")
            failed: wire.TtsReply = {"type": "tts", "id": rid, "ok": False, "code": code,
                                     "message": str(exc)}
            self.send(failed)
            return
        except Exception:  # a fault of ours: the asker hears at once, not after its timeout
            logger.exception("speech synthesis failed unexpectedly")
            broken: wire.TtsReply = {"type": "tts", "id": rid, "ok": False, "code": "engine_failed",
                                     "message": "speech synthesis failed"}
            self.send(broken)
            return
        # The voice to file it under: the asked one if the engine offers it, else "" (its
        # default), so a listener with the default voice finds it next time.
        asked = self.voices.known(str(msg.get("engine") or self.voices.registry.default),
                                  str(msg["language"]), msg.get("voice")) or ""
        made: wire.TtsReply = {
            "type": "tts", "id": rid, "ok": True, "wav": base64.b64encode(out.wav).decode(),
            "durationMs": round(out.duration_ms, 1), "engine": out.engine, "voice": out.voice,
            "voiceKey": asked if out.engine == (msg.get("engine") or out.engine) else out.voice,
            "cached": cached, "elapsedMs": round(out.elapsed_ms, 1)}
        self.send(made)

    def _results(self, sid: str, events: list[SpeechEvent]) -> None:
        """Each event to the app; a notice's `text` is its code."""
        for e in events:
            self.send(wire.speech_result(sid, e, time.time() * 1000))

    def _failed(self, sid: str, exc: EngineError) -> None:
        if isinstance(exc, UnsupportedLanguageError):  # our own words, safe to show the speaker
            self.send(_error(sid, str(exc), "unsupported_language"))
            return
        logger.warning("speech session failed", exc_info=exc, extra={"session": sid})
        self.send(_error(sid, str(exc)))

    def _ended(self, sid: str) -> None:
        self.sessions.pop(sid, None)
        ended: wire.Ended = {"type": "ended", "session": sid}
        self.send(ended)


def _error(sid: str, message: str,
           code: Literal["unsupported_language", "overloaded"] | None = None) -> wire.SessionError:
    """A session's failure; only a known `code`'s message is shown to the speaker."""
    failed: wire.SessionError = {"type": "error", "session": sid, "message": message}
    if code is not None:
        failed["code"] = code
    return failed


class Meter:
    """Premium recognition usage, written where every process reads it (core.usage)."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url

    def bound(self, room: Any, user: Any) -> UsageMeter:
        def meter(provider: str, unit: str, amount: float) -> None:
            usage.record(self.url, provider, unit, amount, str(room) if room else None,
                         str(user) if user else None)
        return meter


OVERLOADED = ("audio is arriving faster than it can be recognised; some was dropped "
              "(send it at real time)")


class Voices:
    """Speech synthesis in the speech process: registry by name plus the shared cache; and the
    translation providers other processes ask it to call (`translator`)."""

    def __init__(self, settings: Settings) -> None:
        from engines.tts.cache import TTSCache
        self.settings = settings
        self.registry = tts_registry(settings)
        self.cache = TTSCache(settings.speech.tts_cache_bytes)
        self._translators: Any = None
        self._lock = threading.Lock()

    def translator(self, name: str) -> Any:
        """Translation provider `name` of this process, made on first use."""
        with self._lock:
            if self._translators is None:
                self._translators = translator_registry(self.settings)
        return self._translators.provider(name)

    def list(self, engine: str, language: str) -> list[dict[str, str]]:
        """[{id, name}] of an engine's voices for a language (a premium provider's from its own
        list; the engines here offer the same voices whatever the language)."""
        name = engine or self.registry.default
        provider = self.registry.provider(self.registry.check(name))
        lister = getattr(provider, "voices", None)
        if callable(lister):
            return list(lister(language))
        return [{"id": v, "name": v} for v in provider.capabilities.voices]

    def known(self, engine: str, language: str, voice: Any) -> str | None:
        """`voice` if the engine offers it for the language, else None (its default voice): a
        free-text voice must not make a new synthesis, and a new file, for each spelling."""
        if not voice:
            return None
        try:
            offered = {v["id"].replace("<language>", language) for v in self.list(engine, language)}
        except Exception:  # noqa: BLE001 - no list (a provider's is down): the default voice
            return None
        return str(voice) if str(voice) in offered else None

    def speak(self, text: str, language: str, voice: Any, engine: str) -> tuple[Any, bool]:
        """(the Synthesis, whether it came from the cache: nothing billed). A voice the engine
        does not offer is its default voice."""
        name = engine or self.registry.default
        self.registry.check(name)
        voice = self.known(name, language, voice)
        key = (name, str(voice or ""), language, text)
        hit = self.cache.get(key)
        if hit is not None:
            return hit, True
        out = self.registry.get(name).synthesize(text, language, str(voice) if voice else None)
        if out.engine == name:  # a fallback's audio is not the asked engine's: not kept as it
            self.cache.put(key, out)
        return out, False
