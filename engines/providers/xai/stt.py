"""Grok speech recognition: xAI's streaming `/stt` endpoint over a WebSocket, gated by local VAD.

Protocol (docs.x.ai, speech-to-text streaming; also livekit-plugins-xai 1.8.9 `stt.py`, which
speaks the same endpoint — it takes no base URL, so it cannot be pointed at a test server):
- every setting is a query parameter: `sample_rate`, `encoding=pcm` (16-bit little-endian),
  `interim_results=true`, `endpointing` (ms of pause before `speech_final`, 0-5000), `language`,
  and `keyterm` repeated once per term (≤ 100 terms);
- the server speaks first with `{"type": "transcript.created", "id"}`; audio goes after it, as
  binary frames; the client ends with `{"type": "audio.done"}`;
- `transcript.partial` carries `text`, `is_final` (false: an interim guess; true: a locked chunk),
  `speech_final`, and where its audio lies (`start`, `duration`, and `words` with their `end`, in
  seconds of the connection's audio); `transcript.done` closes the turn (`text` may be empty when
  the locked chunks said it all, or repeat them); `error` carries `message`.

Segments (engines.stt.turns): locked chunks are gathered up to a sentence's end, and each such run
is a final of its own while the person speaks. xAI locks a chunk every few seconds (about 3 s, a
third-party client notes), mid-sentence as often as not: a caption, a translation and a voice per
chunk would read as fragments. The same client saw locked chunks that repeat the earlier ones
(cumulative) as well as ones that follow them: a chunk whose audio starts before the locked audio
ends, and the `transcript.done` text, add only the words not locked yet.

Local VAD gates what is sent (engines.stt.turns): a connection is opened when speech starts, fed
that speech, sent `audio.done` when the VAD hears the end (a long pause, or a short one the
provider marks `speech_final`). One connection per utterance: whether xAI keeps a connection for several
turns is not documented (pipecat keeps one open and lets the server find the turns; that bills the
silence too).

A connection refused, closed early, an `error`, a frame that is not an event, or no answer within
`stall_s` all raise an EngineError from push/poll/flush: the failover stream above this one then
replays the utterance to the next engine.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlencode

from engines.errors import EngineConnectionError, EngineError, EngineTimeoutError
from engines.languages import LANGUAGE_TABLE
from engines.providers.xai.config import NAME, XAIConfig, refused
from engines.stt.base import (
    SAMPLE_RATE,
    STT,
    SpeechStream,
    StreamOptions,
    STTCapabilities,
)
from engines.stt.turns import Lock, TurnStream, drain, whole_clip
from engines.stt.vad import VadConfig

logger = logging.getLogger(__name__)
# websockets logs every handshake header at DEBUG, the Authorization header included: its own
# logger for our connections, never below WARNING.
_WS_LOG = logging.getLogger(__name__ + ".websocket")
_WS_LOG.setLevel(logging.WARNING)

MAX_KEYTERMS = 100  # docs.x.ai: up to 100 key terms
MAX_KEYTERM_CHARS = 50
# Languages offered for Grok STT. docs.x.ai lists them on a page we could not read whole; pipecat's
# xAI docs say "16 supported languages", a reseller's page "24+". These big ones are the ones we
# offer; a language the provider refuses ends in an `error` event, which falls back like any other.
# `language` takes a BCP-47 code (videosdk's xAI plugin docs): ours are those.
LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "pt", "nl", "pl", "ru", "ja", "ko", "ar",
                       "hi", "tr", "sv", "ca"})


class GrokSTT(STT):
    """xAI streaming STT. `transcribe()` (whole clips) sends the clip as one turn."""

    segment_by: Literal["lock", "sentence"] = "sentence"

    def __init__(self, config: XAIConfig, vad: VadConfig | None = None) -> None:
        self.config = config
        self.name = NAME
        self.vad_config = vad or VadConfig()
        self.turns = 0
        self.failures = 0

    @property
    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(streaming=True, interim_results=True, offline=False,
                               languages=LANGUAGES & frozenset(LANGUAGE_TABLE))

    def status(self) -> dict[str, Any]:
        return dict(super().status(), premium=True, turns=self.turns, failures=self.failures)

    def ready(self) -> bool:
        return self.config.within_budget("audio_seconds")

    def stream(self, language: str, key_prefix: str,
               options: StreamOptions | None = None) -> SpeechStream:
        return GrokStream(self, language, key_prefix, options or StreamOptions())

    def turn(self, language: str, keyterms: tuple[str, ...],
             wake: Callable[[], None] | None = None) -> _Turn:
        """One utterance's connection (engines.stt.turns)."""
        return _Turn(self, language, keyterms, wake)

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        return whole_clip(_Turn(self, language, ()), pcm16,
                          self.config.stall_s + self.config.connect_timeout_s)

    def url(self, language: str, keyterms: tuple[str, ...]) -> str:
        # `endpointing`: the pause (ms) after which the provider marks `speech_final`.
        params: list[tuple[str, str]] = [
            ("sample_rate", str(SAMPLE_RATE)), ("encoding", "pcm"), ("interim_results", "true"),
            ("endpointing", str(int(self.vad_config.min_silence_ms))), ("language", language)]
        params += [("keyterm", t[:MAX_KEYTERM_CHARS]) for t in keyterms[:MAX_KEYTERMS]]
        return self.config.ws_url("/stt") + "?" + urlencode(params)


class _Turn:
    """One utterance on one connection: a reader thread collects its events; `send` queues audio
    until the server has said `transcript.created`, then writes it in order."""

    def __init__(self, stt: GrokSTT, language: str, keyterms: tuple[str, ...],
                 wake: Callable[[], None] | None = None) -> None:
        stt.config.check_budget("audio_seconds")
        self.wake = wake or (lambda: None)
        self.stt = stt
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ws: Any = None
        self.ready = False
        self.closed = False
        self.result: str | None = None
        self.error: EngineError | None = None
        self.locked: list[str] = []
        self.speech_final_at = 0.0  # when the provider's endpointing last said the speaker stopped
        self.sent_bytes = 0
        self.opened_at = time.monotonic()
        self.last_heard = self.opened_at
        self.last_sent = 0.0
        self.finished_at: float | None = None
        self._buffer: list[bytes] = []
        self._lock = threading.Lock()
        self._url = stt.url(language, keyterms)
        stt.turns += 1
        threading.Thread(target=self._run, name="grok-stt", daemon=True).start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
        from websockets.sync.client import connect
        cfg = self.stt.config
        try:
            ws = connect(self._url, additional_headers=cfg.headers, open_timeout=cfg.connect_timeout_s,
                         close_timeout=1, max_size=1 << 20, compression=None, logger=_WS_LOG)
        except InvalidStatus as exc:
            self._fail(refused("speech stream", exc.response.status_code, exc.response.body or b""))
            return
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._fail(EngineConnectionError(f"xAI speech stream unreachable: {type(exc).__name__}",
                                             engine=NAME))
            return
        with self._lock:
            self.ws = ws
            if self.closed:
                ws.close()
                return
        try:
            for raw in ws:
                self.last_heard = time.monotonic()
                if isinstance(raw, bytes):
                    raise ValueError("binary frame")
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError("not an object")
                more = self._handle(msg)
                self.wake()
                if not more:
                    return
            raise ConnectionClosed(None, None)
        except ConnectionClosed:
            if not self.closed:
                self._fail(EngineConnectionError("xAI closed the speech stream mid-utterance",
                                                 engine=NAME))
        except (ValueError, TypeError, KeyError):
            self._fail(EngineError("xAI sent a speech event that is not one", engine=NAME,
                                   retryable=True))
        except (OSError, WebSocketException):
            if not self.closed:
                self._fail(EngineConnectionError("xAI speech stream failed", engine=NAME))
        finally:
            ws.close()

    def _handle(self, msg: dict[str, Any]) -> bool:
        """One server event; False once the turn is over."""
        kind = msg.get("type")
        if kind == "transcript.created":
            with self._lock:
                self.ready = True
                for chunk in self._buffer:
                    self._write(chunk)
                self._buffer.clear()
                if self.finished_at is not None:
                    self.ws.send(json.dumps({"type": "audio.done"}))
        elif kind == "transcript.partial":
            text = str(msg["text"]).strip()
            if msg.get("is_final"):
                if text:
                    self.locked.append(text)
                    self.events.put(("lock", Lock(text, *_span_ms(msg), word_ends=_word_ends(msg),
                                                      ends_turn=bool(msg.get("speech_final")))))
                if msg.get("speech_final"):
                    self.speech_final_at = time.monotonic()
            else:
                self.events.put(("interim", text))
        elif kind == "transcript.done":
            self.result = str(msg.get("text") or "").strip()  # after the locks (turns.Turn)
            self.closed = True
            return False
        elif kind == "error":
            # The message is the provider's and may quote what was said: not kept.
            self._fail(EngineError("xAI reported a speech stream error", engine=NAME, retryable=True))
            return False
        return True

    def _write(self, chunk: bytes) -> None:
        self.ws.send(chunk)
        self.sent_bytes += len(chunk)
        self.last_sent = time.monotonic()

    def send(self, chunk: bytes) -> None:
        from websockets.exceptions import WebSocketException
        with self._lock:
            if self.closed or self.error is not None:
                return
            if not self.ready:
                self._buffer.append(chunk)
                return
            try:
                self._write(chunk)
            except (OSError, WebSocketException):
                pass  # the reader sees the connection go and says why

    def finish(self) -> None:
        """End of the utterance: `audio.done` (sent when the server is ready, if it is not yet)."""
        from websockets.exceptions import WebSocketException
        with self._lock:
            self.finished_at = time.monotonic()
            if self.ready and not self.closed:
                try:
                    self.ws.send(json.dumps({"type": "audio.done"}))
                except (OSError, WebSocketException):
                    pass

    def check(self, deadline: float | None = None) -> None:
        """Raise the turn's error, or EngineTimeoutError if the provider has gone quiet: not
        connected within connect_timeout_s, or no event for stall_s while audio was flowing or
        since `audio.done`."""
        if self.error is not None:
            raise self.error
        if self.result is not None:
            return
        now = time.monotonic()
        cfg = self.stt.config
        if not self.ready and now - self.opened_at > cfg.connect_timeout_s:
            self._fail(EngineTimeoutError("xAI did not open the speech stream in time", engine=NAME))
        elif self.ready and self._stalled(now, cfg.stall_s):
            self._fail(EngineTimeoutError("xAI speech stream stalled", engine=NAME))
        elif deadline is not None and now > deadline:
            self._fail(EngineTimeoutError("xAI speech stream stalled", engine=NAME))
        if self.error is not None:
            raise self.error

    def _stalled(self, now: float, stall_s: float) -> bool:
        """Quiet for `stall_s` since the end was sent (and never more than twice that after it,
        whatever else it says); or, while audio is still going out, for three times that (partials
        come about every 500 ms, but a provider may say nothing new for a while mid-sentence, and
        a false stall costs a failover and a cool-down; a pause in our own audio is not its fault)."""
        if self.finished_at is not None:
            return (now - max(self.last_heard, self.finished_at) > stall_s
                    or now - self.finished_at > 2 * stall_s)
        return (self.last_sent > self.last_heard and now - self.last_heard > 3 * stall_s
                and now - self.last_sent < 1.0)

    def _fail(self, exc: EngineError) -> None:
        if self.error is None and self.result is None:
            self.error = exc
            self.stt.failures += 1
            logger.warning("xAI speech stream failed", extra={"engine": NAME, "reason": str(exc)})
            self.wake()
        self.abort()

    def abort(self) -> None:
        with self._lock:
            self.closed = True
            ws = self.ws
        if ws is not None:
            ws.close()

    def drain(self) -> list[tuple[str, Any]]:
        return drain(self.events)


def _span_ms(msg: dict[str, Any]) -> tuple[float | None, float | None]:
    """(end, start) of a locked chunk's audio, in ms of the connection's audio: it ends at its last
    word's end or at start + duration, whichever is sooner (the chunk may run on into a pause)."""
    start, duration = _seconds(msg.get("start")), _seconds(msg.get("duration"))
    words = msg.get("words")
    last = words[-1] if isinstance(words, list) and words and isinstance(words[-1], dict) else {}
    ends = [e for e in (_seconds(last.get("end")),
                        start + duration if start is not None and duration is not None else None)
            if e is not None]
    return (min(ends) * 1000 if ends else None), (start * 1000 if start is not None else None)


def _word_ends(msg: dict[str, Any]) -> tuple[float, ...]:
    """Each word's end (ms of the connection's audio) when every word of the chunk has one."""
    words = msg.get("words")
    ends = [_seconds(w.get("end")) if isinstance(w, dict) else None
            for w in (words if isinstance(words, list) else [])]
    return tuple(e * 1000 for e in ends if e is not None) if ends and None not in ends else ()


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class GrokStream(TurnStream):
    """One speaker's stream: VAD-gated turns, each its own connection (engines.stt.turns)."""
