"""One speaker's recognition, shared by both audio paths (the Socket.IO audio sessions of
agent.speech_server and the LiveKit microphones of agent.livekit_agent): a thread that takes PCM
chunks from an inbox, resamples them to 16 kHz when needed (soxr), feeds a streaming STT, and
hands each SpeechEvent on; closing it flushes the last final. And `event_fields`, an event as
the speech link carries it (core.wire.Recognized) with its kind.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from core import wire
from engines.errors import EngineError, UnsupportedLanguageError
from engines.languages import LANGUAGES
from engines.stt.base import STT, SpeechEvent, StreamOptions

logger = logging.getLogger(__name__)
_STOP = object()
_POLL = object()


def event_fields(e: SpeechEvent) -> dict[str, Any]:
    """A recognition event as the speech process reports it (JSON-ready): its `kind` and
    core.wire.Recognized (a notice's `text` is its code; `engine` is who made the event, for a
    notice the engine now in use, `previous` the one left)."""
    return {"kind": e.kind, **wire.recognized(e)}


class SpeakerStream:
    """Start it, then feed it PCM16 mono at `rate`; `deliver` gets each batch of events on its thread.

    `key_prefix()` names each new stream (utterance keys start with it); a language change ends
    the current stream (its last final delivered) and opens one in the new language. An engine
    failure goes to `on_error` and ends the stream; `on_end` runs last, whatever happened.
    `batch_bytes` gathers small chunks into larger pushes (fewer VAD calls). Audio waiting to be
    recognised is bounded (`max_backlog_s`): past it, chunks are dropped and `on_overflow` is told
    once per overflow (audio arriving faster than it can be recognised)."""

    MAX_BACKLOG_S = 60.0  # a reconnecting page may send what it buffered at once

    def __init__(self, stt: STT, language: str, *, rate: int = 16000,
                 key_prefix: Callable[[], str], deliver: Callable[[list[SpeechEvent]], None],
                 on_error: Callable[[EngineError], None] | None = None,
                 on_end: Callable[[], None] | None = None, batch_bytes: int = 0,
                 name: str = "stt", options: StreamOptions | None = None,
                 on_overflow: Callable[[], None] | None = None,
                 max_backlog_s: float | None = None) -> None:
        self.stt = stt
        self.language = language
        self.rate = rate
        self.key_prefix = key_prefix
        self.deliver = deliver
        self.on_error = on_error
        self.on_end = on_end
        self.batch_bytes = batch_bytes
        # A remote engine's results wake the loop at once (a poll), not at the next chunk.
        self.options = dataclasses.replace(options or StreamOptions(),
                                           wake=lambda: self.inbox.put(_POLL))
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.on_overflow = on_overflow
        self.max_backlog = int(rate * 2 * (max_backlog_s or self.MAX_BACKLOG_S))
        self.backlog = 0  # bytes of audio in the inbox
        self.dropped = 0  # bytes of audio dropped because the inbox was full
        self._overflowing = False
        self._count_lock = threading.Lock()
        # When each chunk in the inbox arrived (epoch ms), in the same order: a final's speech
        # end is no later than the arrival of the last audio before it, however long the chunk
        # waited to be recognised (a speaker who stops and leaves said it while in the room).
        self._arrivals: deque[float] = deque()
        self._heard_until = 0.0

    def start(self) -> SpeakerStream:
        self.thread.start()
        return self

    def feed(self, pcm: bytes) -> bool:
        """Queue audio; False if it was dropped (the stream ended, or too much is waiting)."""
        if not (self.thread.is_alive() or not self.thread.ident):  # ended: takes no more
            return False
        with self._count_lock:
            if self.backlog + len(pcm) > self.max_backlog:
                self.dropped += len(pcm)
                tell, self._overflowing = not self._overflowing, True
            else:
                self.backlog += len(pcm)
                self._overflowing = tell = False
                self._arrivals.append(time.time() * 1000.0)
                self.inbox.put(pcm)
                return True
        if tell:
            logger.warning("audio arriving faster than it is recognised; dropping",
                           extra={"stream": self.thread.name})
            if self.on_overflow is not None:
                self.on_overflow()
        return False

    def set_language(self, language: str) -> None:
        self.inbox.put(("language", language))

    def set_keyterms(self, terms: tuple[str, ...]) -> None:
        """New key terms (the room's glossary changed), used from the next utterance on."""
        self.inbox.put(("keyterms", tuple(terms)))

    def close(self) -> None:
        self.inbox.put(_STOP)

    def _arrived(self, events: list[SpeechEvent]) -> list[SpeechEvent]:
        """Finals with their speech end no later than the arrival of the audio heard so far."""
        until = self._heard_until
        return [dataclasses.replace(e, speech_end_at=min(e.speech_end_at, until))
                if e.kind == "final" and e.speech_end_at and until else e for e in events]

    def _open(self, language: str) -> Any:
        if not self.stt.supports(language):
            raise UnsupportedLanguageError(
                f"speech recognition does not know {LANGUAGES.get(language, language)}: type instead",
                engine=self.stt.name)
        return self.stt.stream(language, self.key_prefix(), self.options)

    def _run(self) -> None:
        import numpy as np
        import soxr
        resampler = None
        if self.rate != 16000:
            resampler = soxr.ResampleStream(self.rate, 16000, 1, dtype="int16", quality="HQ")
        pending = bytearray()
        stream: Any = None

        def push(stream: Any, pcm: bytes, *, flush: bool = False) -> None:
            pending.extend(pcm)
            if flush or len(pending) >= self.batch_bytes:
                events = stream.push(bytes(pending)) if pending else []
                pending.clear()
                if flush:
                    events += stream.flush()
                if events:
                    self.deliver(self._arrived(events))

        try:
            stream = self._open(self.language)
            while True:
                try:  # a remote engine answers on its own time: look for its results in pauses
                    item = self.inbox.get(timeout=0.1)
                except queue.Empty:
                    item = _POLL
                if item is _POLL:
                    events = stream.poll()
                    if events:
                        self.deliver(self._arrived(events))
                    continue
                if isinstance(item, tuple) and item[0] == "keyterms":  # from the next utterance on
                    self.options = dataclasses.replace(self.options, keyterms=item[1])
                    stream.set_keyterms(item[1])
                    continue
                if item is _STOP or isinstance(item, tuple):  # end, or ("language", code)
                    tail = b""
                    if resampler is not None and item is _STOP:
                        tail = resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True).tobytes()
                    push(stream, tail, flush=True)
                    if not isinstance(item, tuple):
                        return
                    self.language = item[1]
                    stream = self._open(self.language)
                    continue
                with self._count_lock:
                    self.backlog -= len(item)
                    self._heard_until = self._arrivals.popleft()
                if resampler is not None:
                    item = resampler.resample_chunk(np.frombuffer(item, dtype=np.int16)).tobytes()
                push(stream, item)
        except EngineError as exc:
            if stream is not None:
                stream.close()  # a remote provider's calls in flight are let go
            if self.on_error is not None:
                self.on_error(exc)
            else:
                logger.warning("speech recognition failed for a speaker", exc_info=True)
        finally:
            if self.on_end is not None:
                self.on_end()
